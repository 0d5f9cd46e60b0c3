/**
 * A ledger with history, for the dashboard's tests and benchmark: a finished cloud job that was preempted
 * once and failed over at launch, a failed local job, an interrupted job whose machine was left open (an
 * orphan), an orphan reaped by `kiln gc`; and, for the benchmark, many plain finished jobs and one job with
 * a very long metrics file. Written through the ledger's own API (with a fixed clock), and the jobs'
 * run.json / cloud.json through their own writers, so the dashboard reads exactly what Kiln writes.
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KilnPaths } from "../../core/home.js";
import { type RunFile, writeRunFile } from "../../core/job/run-file.js";
import { type CloudFile, writeCloudFile } from "../../core/lifecycle/cloud-file.js";
import { Ledger } from "../../store/index.js";

const T0 = Date.parse("2026-12-01T09:00:00.000Z");

/** A clock the fixture moves by hand: every ledger write is stamped with `at`. */
function handClock() {
  let t = T0;
  return { clock: () => new Date(t).toISOString(), set: (ms: number) => {
      t = ms;
    }, at: (minutes: number) => new Date(T0 + minutes * 60_000).toISOString() };
}

const line = (o: object) => `${JSON.stringify({ v: 1, ...o })}\n`;

/** A train phase of `steps` lines (plus a start, evals every `evalEvery` steps and a done), as the workload writes them. */
export function metricsText(steps: number, o: { tsStart?: number; evalEvery?: number; tokensPerStep?: number; done?: boolean; gpu?: boolean } = {}): string {
  const k = o.tokensPerStep ?? 4096;
  const ts0 = (o.tsStart ?? T0) / 1000;
  const parts = [line({ ts: ts0, kind: "start", phase: "train", resumed: false, step: 0, config_hash: "c", total_steps: steps, total_tokens: steps * k, world_size: 1, device: o.gpu ? "cuda" : "cpu", pid: 1 })];
  for (let s = 1; s <= steps; s++) {
    const loss = 0.05 + 1 / (1 + s / 50);
    parts.push(
      line({ ts: ts0 + s, kind: "train", step: s, epoch: s / steps, tokens: s * k, loss, mse: loss, l0: 32 + 8 / (1 + s), l1: null, explained_variance: 1 - loss, dead_fraction: 0.02 / (1 + s / 100), lr: 4e-4, tokens_per_s: 80_000 + (s % 7) * 100, gpu_mem_gb: o.gpu ? 21.5 : null, ...(o.gpu && { gpu_util: 90 + (s % 10) }), eta_s: steps - s }),
    );
    if (o.evalEvery && s % o.evalEvery === 0) parts.push(line({ ts: ts0 + s, kind: "eval", step: s, epoch: s / steps, tokens: s * k, split: "val", loss: loss * 1.05, mse: loss, l0: 32, explained_variance: 1 - loss * 1.05, dead_fraction: 0.01 }));
  }
  if (o.done !== false) parts.push(line({ ts: ts0 + steps + 1, kind: "done", phase: "train", step: steps, tokens: steps * k, final: {}, reason: "completed" }));
  return parts.join("");
}

function localRun(paths: KilnPaths, id: string, name: string, jobDir: string, maxUsd: number): RunFile {
  const step = (n: string) => ({ name: n, argv: ["python3", "-m", "kiln_sae", n], cwd: jobDir, env: {}, metrics: join(jobDir, "outputs", n, "metrics.jsonl"), outputDir: join(jobDir, "outputs", n) });
  return {
    version: 1, jobId: id, jobName: name, kind: "sae-pii", ledgerPath: paths.ledger, jobDir, provider: "local", pricePerHour: 0.5,
    machine: { gpu: "RTX-4090", gpuCount: 1, vramGb: 24 }, planReason: "the local GPU fits", steps: [step("sae"), step("probe")],
    budget: { maxUsd, alertFractions: [0.5, 0.8] }, alerts: { on: [] }, monitor: { tickMs: 1000, stallMs: 600_000, plateauWindow: 20, plateauMinImprovement: 0.001 }, stopGraceMs: 60_000,
  };
}

function cloudFile(id: string, name: string, specDir: string): CloudFile {
  const offer = (region: string) => ({ provider: "lambda", instanceType: "gpu_1x_a100_sxm4", gpu: "A100-40GB", gpuCount: 1, vramGb: 40, region, pricePerHour: 1.29, spot: false, priceSource: "live" as const, priceDate: "2026-12-01" });
  return {
    version: 1, jobId: id, jobName: name, provider: "lambda", providers: ["lambda"], maxRestarts: 3, sim: false, specDir, offers: [offer("us-east-1"), offer("us-west-1")], maxOffers: 3,
    budget: { maxUsd: 10, alertFractions: [0.5, 0.8, 0.95] }, pollMs: 5000, teardownReserveMs: 60_000, bootTimeoutMs: 600_000, terminate: { pollMs: 2000, timeoutMs: 300_000 }, stopGraceMs: 60_000, watchdogTerminate: false,
  };
}

export interface SeededHistory {
  finished: string;
  failed: string;
  orphaned: string;
}

/** The three historic jobs (finished on a cloud, failed locally, interrupted with an orphan) and one gc sweep. */
export function seedHistory(paths: KilnPaths): SeededHistory {
  const c = handClock();
  const ledger = Ledger.open(paths.ledger, { clock: c.clock });
  try {
    // 1. A cloud job: attempt 1 failed over at launch, ran, was preempted; attempt 2 finished; artifacts verified.
    const fin = "20261201-090000-aaaa";
    const finDir = join(paths.jobs, fin);
    mkdirSync(join(finDir, "outputs", "sae"), { recursive: true });
    mkdirSync(join(finDir, "logs"), { recursive: true });
    writeCloudFile(finDir, cloudFile(fin, "llama-sae-pii", finDir));
    writeFileSync(join(finDir, "outputs", "sae", "metrics.jsonl"), metricsText(400, { evalEvery: 100, gpu: true }));
    writeFileSync(join(finDir, "outputs", "sae", "sae.safetensors"), "weights");
    writeFileSync(join(finDir, "logs", "run.log"), "kiln: step train\nepoch 1/1\ntraining finished\n");
    ledger.createJob({ id: fin, name: "llama-sae-pii", kind: "sae-pii", specYaml: "name: llama-sae-pii\n", jobDir: finDir, planReason: "cheapest expected total" });
    c.set(Date.parse(c.at(1)));
    ledger.transitionJob(fin, "running", "driver started");
    const a1 = ledger.startAttempt(fin, "lambda");
    ledger.setAttemptStep(a1.id, "launch");
    const m1 = ledger.recordMachineIntent({ intentId: "i-fin-1", jobId: fin, attemptId: a1.id, provider: "lambda", offer: cloudFile(fin, "x", finDir).offers[1], pricePerHour: 1.29 });
    c.set(Date.parse(c.at(2)));
    ledger.markMachineLaunched(m1.id, "lam-0001", "booting");
    ledger.addEvent({ jobId: fin, attemptId: a1.id, machineId: m1.id, kind: "launch", reason: "failed over to lambda gpu_1x_a100_sxm4 in us-west-1", data: { failures: [{ provider: "lambda", offer: "gpu_1x_a100_sxm4 us-east-1", kind: "capacity", why: "no capacity" }] } });
    for (const [step, min] of [["boot", 3], ["connect", 4], ["verify", 5], ["ship", 6], ["setup", 7], ["start", 9], ["monitor", 10]] as const) {
      c.set(Date.parse(c.at(min)));
      ledger.setAttemptStep(a1.id, step);
    }
    c.set(Date.parse(c.at(40)));
    ledger.addEvent({ jobId: fin, attemptId: a1.id, machineId: m1.id, kind: "alert", reason: "lambda reclaimed lam-0001" });
    ledger.markMachineTerminated(m1.id, "reclaimed by the provider");
    ledger.endAttempt(a1.id, "preempted", "lambda reclaimed lam-0001 (spot capacity)");
    const a2 = ledger.startAttempt(fin, "lambda");
    ledger.setAttemptStep(a2.id, "launch");
    const m2 = ledger.recordMachineIntent({ intentId: "i-fin-2", jobId: fin, attemptId: a2.id, provider: "lambda", offer: cloudFile(fin, "x", finDir).offers[0], pricePerHour: 1.29 });
    c.set(Date.parse(c.at(41)));
    ledger.markMachineLaunched(m2.id, "lam-0002", "active");
    ledger.addEvent({ jobId: fin, attemptId: a2.id, machineId: m2.id, kind: "launch", reason: "launched lambda gpu_1x_a100_sxm4 in us-east-1", data: { failures: [] } });
    for (const [step, min] of [["boot", 41], ["connect", 43], ["verify", 44], ["ship", 45], ["restore", 46], ["setup", 47], ["start", 48], ["monitor", 49]] as const) {
      c.set(Date.parse(c.at(min)));
      ledger.setAttemptStep(a2.id, step);
    }
    c.set(Date.parse(c.at(120)));
    ledger.addEvent({ jobId: fin, attemptId: a2.id, kind: "budget_alert", reason: "spent $5.02: 50% of max_usd $10.00", data: { fraction: 0.5, spentUsd: 5.02 } });
    c.set(Date.parse(c.at(150)));
    ledger.setAttemptStep(a2.id, "collect");
    c.set(Date.parse(c.at(151)));
    ledger.recordArtifact({ jobId: fin, path: "sae/sae.safetensors", size: 7, sha256: "9f".repeat(32), role: "sae", verified: true });
    ledger.recordArtifact({ jobId: fin, path: "sae/metrics.jsonl", size: 1234, sha256: "3c".repeat(32), verified: true });
    c.set(Date.parse(c.at(152)));
    ledger.setAttemptStep(a2.id, "teardown");
    c.set(Date.parse(c.at(153)));
    ledger.markMachineTerminated(m2.id, "terminated and confirmed");
    ledger.endAttempt(a2.id, "succeeded", "completed");
    ledger.transitionJob(fin, "succeeded", "completed");

    // 2. A local job whose training failed: the step exited 1 and the workload wrote an error line.
    const bad = "20261201-110000-bbbb";
    const badDir = join(paths.jobs, bad);
    mkdirSync(join(badDir, "outputs", "sae"), { recursive: true });
    mkdirSync(join(badDir, "logs"), { recursive: true });
    writeRunFile(join(badDir, "run.json"), localRun(paths, bad, "probe-fail", badDir, 2));
    writeFileSync(join(badDir, "outputs", "sae", "metrics.jsonl"), metricsText(30, { done: false, tsStart: Date.parse(c.at(121)) }) + line({ ts: Date.parse(c.at(122)) / 1000, kind: "error", phase: "train", message: "CUDA out of memory", type: "OutOfMemoryError", step: 31 }));
    writeFileSync(join(badDir, "logs", "sae.log"), "loading model\nTraceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of memory\n");
    c.set(Date.parse(c.at(120)));
    ledger.createJob({ id: bad, name: "probe-fail", kind: "sae-pii", specYaml: "name: probe-fail\n", jobDir: badDir });
    c.set(Date.parse(c.at(121)));
    ledger.transitionJob(bad, "running", "supervisor started");
    const b1 = ledger.startAttempt(bad, "local");
    const bm = ledger.recordMachineIntent({ intentId: "i-bad", jobId: bad, attemptId: b1.id, provider: "local", offer: { gpu: "RTX-4090" }, pricePerHour: 0.5 });
    ledger.markMachineLaunched(bm.id, `local-${bad}`, "running");
    ledger.addEvent({ jobId: bad, attemptId: b1.id, kind: "step_started", reason: "sae", data: { argv: ["python3"], pid: 1 } });
    c.set(Date.parse(c.at(127)));
    ledger.addEvent({ jobId: bad, attemptId: b1.id, kind: "step_exit", reason: "sae: exited with code 1", data: { code: 1, signal: null } });
    ledger.markMachineTerminated(bm.id, "job ended");
    ledger.endAttempt(b1.id, "failed", "step sae failed: CUDA out of memory");
    ledger.transitionJob(bad, "failed", "step sae failed: CUDA out of memory");

    // 3. An interrupted cloud job whose driver died holding a machine: an orphan, still billing.
    const orph = "20261201-130000-cccc";
    const orphDir = join(paths.jobs, orph);
    mkdirSync(orphDir, { recursive: true });
    writeCloudFile(orphDir, cloudFile(orph, "abandoned", orphDir));
    c.set(Date.parse(c.at(240)));
    ledger.createJob({ id: orph, name: "abandoned", kind: "sae-pii", specYaml: "name: abandoned\n", jobDir: orphDir });
    ledger.transitionJob(orph, "running", "driver started");
    const o1 = ledger.startAttempt(orph, "lambda");
    ledger.setAttemptStep(o1.id, "launch");
    const om = ledger.recordMachineIntent({ intentId: "i-orph", jobId: orph, attemptId: o1.id, provider: "lambda", offer: cloudFile(orph, "x", orphDir).offers[0], pricePerHour: 1.29 });
    c.set(Date.parse(c.at(241)));
    ledger.markMachineLaunched(om.id, "lam-0003", "active");
    ledger.setAttemptStep(o1.id, "monitor");
    c.set(Date.parse(c.at(250)));
    ledger.endAttempt(o1.id, "interrupted", "the driver died");
    ledger.transitionJob(orph, "interrupted", "driver process 4242 is gone");

    // 4. A sweep that reaped an untracked machine.
    ledger.addEvent({ kind: "gc", reason: "terminated untracked kiln-0badc0de-x (lam-0009) on lambda" });
    return { finished: fin, failed: bad, orphaned: orph };
  } finally {
    ledger.close();
  }
}

/** `n` finished local jobs (each with a small metrics file), for the benchmark's 1,000-job ledger. */
export function seedMany(paths: KilnPaths, n: number): void {
  const c = handClock();
  const ledger = Ledger.open(paths.ledger, { clock: c.clock });
  try {
    ledger.db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = `20261102-${String(100000 + i)}-${(i % 65536).toString(16).padStart(4, "0")}`;
        const dir = join(paths.jobs, id);
        mkdirSync(join(dir, "outputs", "sae"), { recursive: true });
        writeRunFile(join(dir, "run.json"), localRun(paths, id, `sweep-${i}`, dir, 5));
        writeFileSync(join(dir, "outputs", "sae", "metrics.jsonl"), metricsText(20));
        c.set(T0 - (n - i) * 3_600_000);
        ledger.createJob({ id, name: `sweep-${i}`, kind: "sae-pii", specYaml: `name: sweep-${i}\n`, jobDir: dir });
        ledger.transitionJob(id, "running", "supervisor started");
        const a = ledger.startAttempt(id, "local");
        const m = ledger.recordMachineIntent({ intentId: `i-${id}`, jobId: id, attemptId: a.id, provider: "local", offer: {}, pricePerHour: 0.5 });
        ledger.markMachineLaunched(m.id, `local-${id}`, "running");
        c.set(T0 - (n - i) * 3_600_000 + 1_800_000);
        ledger.markMachineTerminated(m.id, "job ended");
        ledger.endAttempt(a.id, i % 10 === 0 ? "failed" : "succeeded", "done");
        ledger.transitionJob(id, i % 10 === 0 ? "failed" : "succeeded", "done");
      }
    })();
  } finally {
    ledger.close();
  }
}

/** A finished local job whose metrics file holds `points` train lines (appended in chunks to bound memory). */
export function seedLongJob(paths: KilnPaths, points: number): string {
  const id = "20261201-150000-dddd";
  const dir = join(paths.jobs, id);
  mkdirSync(join(dir, "outputs", "sae"), { recursive: true });
  writeRunFile(join(dir, "run.json"), localRun(paths, id, "long-run", dir, 50));
  const file = join(dir, "outputs", "sae", "metrics.jsonl");
  writeFileSync(file, "");
  const chunk = 10_000;
  const all = metricsText(points, { evalEvery: 1000 }).split("\n");
  for (let i = 0; i < all.length; i += chunk) appendFileSync(file, all.slice(i, i + chunk).map((l) => (l ? `${l}\n` : "")).join(""));
  const c = handClock();
  const ledger = Ledger.open(paths.ledger, { clock: c.clock });
  try {
    c.set(Date.parse(c.at(300)));
    ledger.createJob({ id, name: "long-run", kind: "sae-pii", specYaml: "name: long-run\n", jobDir: dir });
    ledger.transitionJob(id, "running", "supervisor started");
    const a = ledger.startAttempt(id, "local");
    ledger.addEvent({ jobId: id, attemptId: a.id, kind: "step_started", reason: "sae" });
    const m = ledger.recordMachineIntent({ intentId: `i-${id}`, jobId: id, attemptId: a.id, provider: "local", offer: {}, pricePerHour: 0.5 });
    ledger.markMachineLaunched(m.id, `local-${id}`, "running");
    c.set(Date.parse(c.at(420)));
    ledger.markMachineTerminated(m.id, "job ended");
    ledger.endAttempt(a.id, "succeeded", "completed");
    ledger.transitionJob(id, "succeeded", "completed");
  } finally {
    ledger.close();
  }
  return id;
}

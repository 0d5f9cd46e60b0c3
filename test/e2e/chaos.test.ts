// Managed recovery under chaos, against the Lambda emulator (every instance a real loopback sshd with its
// own home, so a new machine starts empty) and real detached drivers:
// - a job whose machine is taken away 3 times while it trains finishes on its 4th machine, each attempt
//   resuming from the newest checkpoint that reached this computer, with the same final metrics as an
//   uninterrupted run, spend within the cap and no machine left;
// - kill -9 of the driver after a machine was taken (before the relaunch), during the relaunch, during
//   the restore onto the new machine, and during a `kiln run --resume`: the next `kiln status --refresh`
//   leaves no orphan, and `kiln run --resume` finishes the job from its checkpoint.
// The fake workload (test/fixtures/workloads/fake-python) checkpoints every 5 steps and is deterministic,
// so "the same final metrics" is exact here; the tolerance for the real engine is in docs/lifecycle.md §5.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type CloudHarness, cloudTestEnv, inLedger, metricLines, removeTestHomes, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { totalCost } from "../../src/core/cost/index.js";
import { LambdaClient } from "../../src/providers/lambda/client.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
const STEPS = 120;
const CHECKPOINT_EVERY = 5; // the fake workload's checkpoint interval, in steps
const MAX_USD = 2;
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness | undefined;

const haveSshd = sshdAvailable;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-chaos-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  base = await cloudTestEnv({ KILN_STOP_GRACE_MS: "3000", KILN_PROVIDER_POLL_MS: "500", KILN_LISTING_LAG_MS: "1500" });
});
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});
afterAll(() => {
  removeTestHomes(dir);
});

function spec(name: string, maxRestarts: number): string {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, `name: ${name}\nresources: { max_restarts: ${maxRestarts} }\nbudget: { max_usd: ${MAX_USD}, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  return p;
}

async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...cloud?.env, ...extra }, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

const savedStep = (home: string, id: string): number => {
  const p = join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as { step: number }).step : -1;
};

/** The last step the run on `machineId` wrote, read on the machine itself (what a reclaim destroys). */
function stepOnMachine(machineId: string, jobId: string): number {
  const home = cloud!.homeOf(machineId);
  const p = join(home!, "kiln", "jobs", jobId, "job", "outputs", "sae", "metrics.jsonl");
  const steps = readFileSync(p, "utf8")
    .split("\n")
    .filter((l) => l.includes('"kind": "train"'))
    .map((l) => (JSON.parse(l) as { step: number }).step);
  return Math.max(0, ...steps);
}

/** Wait until a checkpoint past `after` has reached this computer, then take the machine away behind Kiln's back. */
async function reclaimAfterCheckpoint(home: string, id: string, after: number): Promise<{ machine: string; saved: number; reached: number }> {
  await pollUntil(async () => (savedStep(home, id) > after && cloud!.live().length === 1 ? true : undefined), { what: `a checkpoint after step ${after}`, timeoutMs: 90_000, intervalMs: 50 }).catch((e: unknown) => {
    // Say what the job was doing, so a failure here can be read without rerunning it.
    const state = inLedger(home, (l) => ({ job: l.getJob(id)?.state, attempts: l.listAttempts(id).map((a) => `${a.n} ${a.state} ${a.step} ${a.reason ?? ""}`), events: l.listEvents(id).slice(-12).map((x) => `${x.kind} ${x.to_state ?? ""} ${x.reason ?? ""}`) }));
    throw new Error(`${String(e)}; saved step ${savedStep(home, id)}, live ${JSON.stringify(cloud!.live())}; ${JSON.stringify(state, null, 1)}`);
  });
  const [instance] = cloud!.live();
  const saved = savedStep(home, id);
  const reached = stepOnMachine(instance!.id, id);
  const client = new LambdaClient({ apiKey: cloud!.emu.apiKey, baseUrl: cloud!.emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
  await client.terminateInstances([instance!.id], AbortSignal.timeout(10_000));
  return { machine: instance!.id, saved, reached };
}

async function waitForEnd(home: string, id: string): Promise<string> {
  return pollUntil(
    async () => {
      const s = inLedger(home, (l) => l.getJob(id)!.state);
      return ["succeeded", "failed", "stopped", "interrupted"].includes(s) ? s : undefined;
    },
    { what: "the job to end", timeoutMs: 150_000, intervalMs: 200 },
  );
}

describe.skipIf(!haveSshd)("managed recovery (needs /usr/sbin/sshd)", () => {
  it("a job whose machine is taken away 3 times while training finishes on its 4th, from its checkpoints, with the uninterrupted run's final metrics", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: String(STEPS), FAKE_STEP_MS: "100" } });
    // The uninterrupted run with the same seed: the reference for the final metrics.
    const refHome = join(dir, "k-ref");
    const ref = await kiln(refHome, ["run", spec("ref", 3), "--provider", "lambda"]);
    expect(ref.code).toBe(0);
    const refId = /started ref \((\S+)\)/.exec(ref.out)![1]!;
    const refDone = metricLines(refHome, refId).filter((m) => m["kind"] === "done").at(-1)!;

    const home = join(dir, "k-chaos");
    const run = await kiln(home, ["run", spec("chaos", 3), "--provider", "lambda", "--detach"]);
    const id = /started chaos \((\S+)\)/.exec(run.out)![1]!;
    const reclaims: { machine: string; saved: number; reached: number }[] = [];
    await pollUntil(async () => (savedStep(home, id) >= 0 ? true : undefined), { what: "the first checkpoint", timeoutMs: 90_000, intervalMs: 100 });
    // While it runs, `kiln status JOB` says which step the live attempt is in.
    const midRun = await kiln(home, ["status", id]);
    let after = 0;
    for (let i = 0; i < 3; i++) {
      // Spread the reclaims over the run: after roughly a quarter, a half and three quarters of it.
      after = Math.max(after, Math.round(((i + 1) * STEPS) / 4) - CHECKPOINT_EVERY);
      reclaims.push(await reclaimAfterCheckpoint(home, id, after));
      after = reclaims.at(-1)!.saved;
    }
    expect(await waitForEnd(home, id)).toBe("succeeded");
    expect(midRun.out).toMatch(/attempt \d on lambda: (monitor|collect|launch|boot|connect|verify|ship|restore|setup|start)/);

    inLedger(home, (l) => {
      const attempts = l.listAttempts(id);
      expect(attempts.map((a) => a.state)).toEqual(["lost", "lost", "lost", "succeeded"]);
      expect(l.listEvents(id, { kind: "recovery" }).map((e) => (e.data_json ? (JSON.parse(e.data_json) as { restart: number }).restart : 0))).toEqual([1, 2, 3]);
      expect(l.listEvents(id, { kind: "restored" })).toHaveLength(3);
      // Spend across attempts is within the cap, and equals what the ledger's machines billed.
      const machines = l.listMachines(id);
      expect(machines.map((m) => m.state)).toEqual(["terminated", "terminated", "terminated", "terminated"]);
      expect(totalCost(machines, Date.now())).toBeLessThanOrEqual(MAX_USD);
      expect(l.listEvents(id, { kind: "alert" })).toEqual([]);
    });
    expect(cloud.live()).toEqual([]);
    const status = await kiln(home, ["status", id]);
    expect(status.out).toMatch(/attempts \(3 recoveries\):/);
    expect(status.out.match(/^\s*\d\s+lambda\s+lost\s+teardown\s/gm)).toHaveLength(3);
    expect(status.out).toMatch(/^\s*4\s+lambda\s+succeeded\s+teardown\s/m);
    // The report lists the attempts too. The driver writes it just after recording the job's end (the report
    // shows that end), so it may still be on its way when the state is read.
    const reportPath = join(home, "jobs", id, "report.md");
    await pollUntil(async () => (existsSync(reportPath) ? true : undefined), { what: "the job's report", timeoutMs: 30_000, intervalMs: 100 });
    const report = readFileSync(reportPath, "utf8");
    expect(report).toMatch(/## Attempts\s+4 attempts, 3 recoveries/);
    expect(report.match(/^\| [1-3] \| lambda \|.*\| lost \|/gm)).toHaveLength(3);

    const lines = metricLines(home, id);
    const starts = lines.filter((m) => m["kind"] === "start");
    expect(starts).toHaveLength(4);
    // Each new attempt resumed from the checkpoint saved here before its machine went: never from 0, and
    // losing only the steps after that checkpoint (at most one interval plus what trained until the pull).
    for (const [i, r] of reclaims.entries()) {
      const resumedAt = starts[i + 1]!["step"] as number;
      expect(starts[i + 1]!["resumed"]).toBe(true);
      expect(resumedAt).toBeGreaterThanOrEqual(r.saved);
      expect(resumedAt).toBeLessThanOrEqual(r.reached);
    }
    // The final metrics are the uninterrupted run's (a deterministic workload resumed exactly).
    const done = lines.filter((m) => m["kind"] === "done").at(-1)!;
    expect(done["step"]).toBe(STEPS);
    expect(done["final"]).toEqual(refDone["final"]);
    expect(existsSync(join(home, "jobs", id, "outputs", "sae", "sae.safetensors"))).toBe(true);
  }, 300_000);

  it.each([
    ["before-recovery", "after a machine was taken, before the relaunch"],
    ["after-intent@2", "during the relaunch (intent recorded, launch not sent)"],
    ["after-launch-call@2", "during the relaunch (launch sent, id not recorded)"],
    ["during-restore@2", "during the restore onto the new machine"],
  ])("kill -9 of the driver at %s (%s): no orphan after `kiln status --refresh`, and `kiln run --resume` finishes from the checkpoint", async (point) => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "80", FAKE_STEP_MS: "100" } });
    const home = join(dir, `k-crash-${point.replace(/\W/g, "-")}`);
    const run = await kiln(home, ["run", spec("crash", 3), "--provider", "lambda", "--detach"], { KILN_CRASH_AT: point });
    const id = /started crash \((\S+)\)/.exec(run.out)![1]!;
    const r = await reclaimAfterCheckpoint(home, id, 10);
    // The driver dies at the point; until then nothing else acts on the job.
    await pollUntil(async () => (inLedger(home, (l) => l.getJob(id)!.supervisor_pid) !== null && !isAlive(inLedger(home, (l) => l.getJob(id)!.supervisor_pid!)) ? true : undefined), { what: "the driver to die", timeoutMs: 90_000, intervalMs: 100 });
    // 0 orphans: every machine the emulator has is gone, and the ledger agrees. An intent sent just before
    // the crash is only concluded "never launched" once the listing lag has passed, so refresh until settled.
    await pollUntil(
      async () => {
        const refresh = await kiln(home, ["status", "--refresh"]);
        expect(refresh.code).toBe(0);
        return inLedger(home, (l) => l.listMachines(id).every((m) => m.state === "terminated" || m.state === "never-launched")) ? true : undefined;
      },
      { what: "the ledger to settle", timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(cloud.live()).toEqual([]);
    inLedger(home, (l) => expect(["interrupted", "failed", "stopped"]).toContain(l.getJob(id)!.state));
    const resumed = await kiln(home, ["run", "--resume", id]);
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    inLedger(home, (l) => expect(l.getJob(id)!.state).toBe("succeeded"));
    const starts = metricLines(home, id).filter((m) => m["kind"] === "start");
    expect(starts.at(-1)!["resumed"]).toBe(true);
    expect(starts.at(-1)!["step"] as number).toBeGreaterThanOrEqual(r.saved);
    expect(metricLines(home, id).filter((m) => m["kind"] === "done").at(-1)).toMatchObject({ step: 80, reason: "completed" });
    expect(cloud.live()).toEqual([]);
  }, 240_000);

  it("kill -9 of the driver during a `kiln run --resume` (its restore onto the new machine): no orphan after `kiln status --refresh`, and resuming again finishes", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "80", FAKE_STEP_MS: "100" } });
    const home = join(dir, "k-crash-resume");
    const run = await kiln(home, ["run", spec("again", 0), "--provider", "lambda", "--detach"]);
    const id = /started again \((\S+)\)/.exec(run.out)![1]!;
    const r = await reclaimAfterCheckpoint(home, id, 10);
    expect(await waitForEnd(home, id)).toBe("failed");
    // The resumed driver dies right after putting the checkpoints on its new machine.
    const resumed = await kiln(home, ["run", "--resume", id, "--detach"], { KILN_CRASH_AT: "during-restore" });
    expect(resumed.code).toBe(0);
    await pollUntil(async () => (inLedger(home, (l) => l.listMachines(id).length) === 2 && !isAlive(inLedger(home, (l) => l.getJob(id)!.supervisor_pid!)) ? true : undefined), { what: "the resumed driver to die", timeoutMs: 90_000, intervalMs: 100 });
    await pollUntil(
      async () => {
        expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
        return inLedger(home, (l) => l.listMachines(id).every((m) => m.state === "terminated" || m.state === "never-launched")) ? true : undefined;
      },
      { what: "the ledger to settle", timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(cloud.live()).toEqual([]);
    const last = await kiln(home, ["run", "--resume", id]);
    expect(last.code).toBe(0);
    inLedger(home, (l) => expect(l.getJob(id)!.state).toBe("succeeded"));
    const starts = metricLines(home, id).filter((m) => m["kind"] === "start");
    expect(starts.at(-1)!["step"] as number).toBeGreaterThanOrEqual(r.saved);
    expect(cloud.live()).toEqual([]);
  }, 240_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A RunPod spot run that RunPod reclaims twice, and that recovers and completes: `kiln run --provider runpod`
// with `spot: prefer` against the RunPod emulator (testing/harness.ts; every pod a real loopback sshd with its
// own home, so a new pod starts empty), the fake workload (test/fixtures/workloads/fake-python, a checkpoint
// every 5 steps, deterministic), and a real detached driver. RunPod gives no notice: the harness takes the
// pod away (EXITED, its machine gone) behind Kiln's back, Kiln sees it by polling (describe says `reclaimed`),
// relaunches a spot pod and resumes from the newest checkpoint that reached this computer. At the end: the job
// succeeded on its 3rd pod, the two reclaimed attempts ended preempted, every pod was deleted (not just
// stopped), spend is within the cap, and the final metrics are those of an uninterrupted run.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, jobTrace, metricLines, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { totalCost } from "../../src/core/cost/index.js";
import { type RunpodHarness, startHarness } from "../../src/providers/runpod/testing/harness.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
const STEPS = 80;
const CHECKPOINT_EVERY = 5;
const MAX_USD = 2;
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: RunpodHarness | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-runpod-spot-"));
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

function spec(name: string): string {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, `name: ${name}\nresources: { spot: prefer, max_restarts: 3 }\nbudget: { max_usd: ${MAX_USD}, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
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

const running = () => cloud!.live().filter((p) => p.status === "RUNNING");

/** Wait for a checkpoint past `after` on this computer, then reclaim the running spot pod as RunPod would. */
async function reclaimAfterCheckpoint(home: string, id: string, after: number): Promise<{ pod: string; saved: number }> {
  await pollUntil(async () => (savedStep(home, id) > after && running().length === 1 && cloud!.live().length === 1 ? true : undefined), { what: `a checkpoint after step ${after}`, timeoutMs: 120_000, intervalMs: 50 }).catch((e: unknown) => {
    const state = inLedger(home, (l) => ({ job: l.getJob(id)?.state, attempts: l.listAttempts(id).map((a) => `${a.n} ${a.state} ${a.step} ${a.reason ?? ""}`), events: l.listEvents(id).slice(-12).map((x) => `${x.kind} ${x.to_state ?? ""} ${x.reason ?? ""}`) }));
    throw new Error(`${String(e)}; saved step ${savedStep(home, id)}, pods ${JSON.stringify(cloud!.emu.inspect())}; ${JSON.stringify(state, null, 1)}`);
  });
  const [pod] = running();
  const saved = savedStep(home, id);
  await cloud!.reclaim!(pod!.id);
  return { pod: pod!.id, saved };
}

async function waitForEnd(home: string, id: string): Promise<string> {
  return pollUntil(
    async () => {
      const s = inLedger(home, (l) => l.getJob(id)!.state);
      return ["succeeded", "failed", "stopped", "interrupted"].includes(s) ? s : undefined;
    },
    // 300 s: on a loaded 2-core CI machine the third pod's launch, setup, resume and pull once took over 180.
    { what: "the job to end", timeoutMs: 300_000, intervalMs: 200 },
  ).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${jobTrace(home, id)}`);
  });
}

describe.skipIf(!sshdAvailable)("RunPod spot: reclaimed twice, recovers and completes (needs /usr/sbin/sshd)", () => {
  it("a spot job whose pod RunPod reclaims twice finishes on its 3rd pod from its checkpoints, every pod deleted, within the cap", async () => {
    cloud = await startHarness({ machineEnv: { FAKE_STEPS: String(STEPS), FAKE_STEP_MS: "100" } });
    // The uninterrupted run with the same seed, on a spot pod nobody reclaims: the reference for the final metrics.
    const refHome = join(dir, "k-ref");
    const ref = await kiln(refHome, ["run", spec("ref"), "--provider", "runpod"]);
    expect(ref.code).toBe(0);
    const refId = /started ref \((\S+)\)/.exec(ref.out)![1]!;
    const refDone = metricLines(refHome, refId).filter((m) => m["kind"] === "done").at(-1)!;
    const before = cloud.emu.inspect().length;

    const home = join(dir, "k-spot");
    const run = await kiln(home, ["run", spec("spot"), "--provider", "runpod", "--detach"]);
    expect(run.err).toBe("");
    const id = /started spot \((\S+)\)/.exec(run.out)![1]!;
    const reclaims: { pod: string; saved: number }[] = [];
    let after = 0;
    for (let i = 0; i < 2; i++) {
      after = Math.max(after, Math.round(((i + 1) * STEPS) / 3) - CHECKPOINT_EVERY);
      reclaims.push(await reclaimAfterCheckpoint(home, id, after));
      after = reclaims.at(-1)!.saved;
    }
    expect(await waitForEnd(home, id)).toBe("succeeded");

    // Every pod was a spot pod; the first two were reclaimed, and Kiln deleted all three (none left stopped).
    const pods = cloud.emu.inspect().slice(before);
    expect(pods.map((p) => ({ interruptible: p.interruptible, status: p.status }))).toEqual(Array.from({ length: 3 }, () => ({ interruptible: true, status: "TERMINATED" })));
    expect(pods.map((p) => p.ended)).toEqual(["reclaimed", "reclaimed", "deleted"]);
    expect(pods.slice(0, 2).map((p) => p.id)).toEqual(reclaims.map((r) => r.pod));
    expect(cloud.live()).toEqual([]);

    inLedger(home, (l) => {
      const attempts = l.listAttempts(id);
      expect(attempts.map((a) => a.state)).toEqual(["preempted", "preempted", "succeeded"]);
      expect(attempts.slice(0, 2).map((a) => a.reason)).toEqual([expect.stringMatching(/runpod reclaimed/), expect.stringMatching(/runpod reclaimed/)]);
      const machines = l.listMachines(id);
      expect(machines.map((m) => m.state)).toEqual(["terminated", "terminated", "terminated"]);
      expect(machines.map((m) => m.provider_id)).toEqual(pods.map((p) => p.id));
      // Spend across attempts is within the cap, and each pod's ledger cost is what the emulator billed it
      // (up to the confirmation poll: the ledger closes a row when it sees the pod gone).
      expect(totalCost(machines, Date.now())).toBeLessThanOrEqual(MAX_USD);
      const billed = Object.fromEntries(pods.map((p) => [p.id, p.costUsd]));
      for (const m of machines) {
        const cost = (m.price_per_hour * (Date.parse(m.terminated_at!) - Date.parse(m.launched_at!))) / 3_600_000;
        expect(cost).toBeGreaterThanOrEqual(billed[m.provider_id!]! - m.price_per_hour / 3600);
      }
    });

    const lines = metricLines(home, id);
    const starts = lines.filter((m) => m["kind"] === "start");
    expect(starts).toHaveLength(3);
    for (const [i, r] of reclaims.entries()) {
      expect(starts[i + 1]!["resumed"]).toBe(true);
      expect(starts[i + 1]!["step"] as number).toBeGreaterThanOrEqual(r.saved);
    }
    const done = lines.filter((m) => m["kind"] === "done").at(-1)!;
    expect(done).toMatchObject({ step: STEPS, reason: "completed" });
    // A deterministic workload resumed from its checkpoints ends exactly where the uninterrupted run did.
    expect(refDone["final"]).toBeDefined();
    expect(done["final"]).toEqual(refDone["final"]);
    expect(existsSync(join(home, "jobs", id, "outputs", "sae", "sae.safetensors"))).toBe(true);
  }, 480_000);

  // The recovery points on a real provider's emulator (Lambda's are in chaos.test.ts): the driver dies after
  // RunPod took the pod and before the relaunch, or while restoring onto the new pod. The next `kiln status
  // --refresh` leaves no pod running, and `kiln run --resume` finishes from the checkpoint on a new spot pod.
  it.each(["before-recovery", "during-restore@2"])("kill -9 of the driver at %s: no pod left after `kiln status --refresh`, and --resume finishes from the checkpoint", async (point) => {
    cloud = await startHarness({ machineEnv: { FAKE_STEPS: String(STEPS), FAKE_STEP_MS: "100" } });
    const home = join(dir, `k-crash-${point.replace(/\W/g, "-")}`);
    const run = await kiln(home, ["run", spec("crash"), "--provider", "runpod", "--detach"], { KILN_CRASH_AT: point });
    expect(run.err).toBe("");
    const id = /started crash \((\S+)\)/.exec(run.out)![1]!;
    const r = await reclaimAfterCheckpoint(home, id, 10);
    await pollUntil(
      async () => {
        const pid = inLedger(home, (l) => l.getJob(id)!.supervisor_pid);
        if (pid === null) return undefined;
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      },
      { what: "the driver to die at its crash point", timeoutMs: 120_000, intervalMs: 100 },
    );
    // An intent sent just before the crash is concluded "never launched" only once the listing lag has passed.
    await pollUntil(
      async () => {
        expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
        return inLedger(home, (l) => l.listMachines(id).every((m) => m.state === "terminated" || m.state === "never-launched")) ? true : undefined;
      },
      { what: "the ledger to settle", timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(cloud.live()).toEqual([]);
    // The driver died at its point, not at the end: the job did not finish on its own.
    inLedger(home, (l) => expect(["interrupted", "failed", "stopped"]).toContain(l.getJob(id)!.state));
    const resumed = await kiln(home, ["run", "--resume", id]);
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    inLedger(home, (l) => expect(l.getJob(id)!.state).toBe("succeeded"));
    const starts = metricLines(home, id).filter((m) => m["kind"] === "start");
    expect(starts.at(-1)!["resumed"]).toBe(true);
    expect(starts.at(-1)!["step"] as number).toBeGreaterThanOrEqual(r.saved);
    expect(cloud.live()).toEqual([]);
  }, 300_000);
});

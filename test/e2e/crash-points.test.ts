// Crash injection: the cloud driver SIGKILLs itself (KILN_CRASH_AT) at each lifecycle point, then the
// next `kiln status --refresh` reconciles (plain `kiln status` is read-only). Every time: zero non-terminated instances at the emulator, every
// instance known to the ledger, every machine row closed with its times, no attempt left running; 0 lost
// outputs (a run that started has its outputs here, each recorded in the ledger as verified and matching its
// sha256; a run that never started has none recorded); spend ≤ the cap + one polling interval, in the
// provider's bill and in the ledger.
// KILN_CRASH_REPEAT (default 1, to keep the suite short; run with 3 before changing the lifecycle) repeats each point.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { totalCost } from "../../src/core/cost/index.js";
import { CRASH_POINTS } from "../../src/core/lifecycle/crash.js";
import { type CloudHarness, cloudTestEnv, removeTestHomes, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
const REPEAT = Number(process.env["KILN_CRASH_REPEAT"] ?? "") || 1;
const MAX_USD = 5;
/** The driver's poll (KILN_CLOUD_POLL_MS in cloudTestEnv): spend may pass the cap by one interval's worth. */
const POLL_S = 0.3;
let dir: string;
let spec: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-crash-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  spec = join(dir, "crash.yaml");
  writeFileSync(spec, `name: crash\nbudget: { max_usd: ${MAX_USD}, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "40", FAKE_STEP_MS: "50" } });
  base = await cloudTestEnv({
    ...cloud.env,
    KILN_STOP_GRACE_MS: "3000",
    // The emulator's listing has no lag: an intent it does not list was never launched.
    KILN_LISTING_LAG_MS: "1",
  });
}, 60_000);
afterAll(async () => {
  await cloud?.close();
  // A failed or timed-out test must not leave a detached driver running.
  removeTestHomes(dir);
});

async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...extra }, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

// The recovery points are reached only after a machine is taken away: test/e2e/chaos.test.ts crashes there.
const RECOVERY_ONLY = new Set<string>(["before-recovery"]);
// The points at which the run has started on the machine (after its run_started event): outputs exist from here.
const RUN_STARTED = new Set<string>(["after-start", "during-training", "during-pull", "before-terminate", "after-terminate-call", "after-confirm"]);
const cases = CRASH_POINTS.filter((p) => !RECOVERY_ONLY.has(p)).flatMap((point) => Array.from({ length: REPEAT }, (_, n) => ({ point, n })));

describe.skipIf(!sshdAvailable)("SIGKILL at every lifecycle point, then `kiln status --refresh` (skipped where sshd is missing)", () => {
  it.each(cases)("crash at $point (#$n): zero orphans, no output lost, spend within the cap, a consistent ledger", async ({ point, n }) => {
    const home = join(dir, `${point}-${n}`);
    const before = new Set(cloud.emu.inspect().map((i) => i.id));
    const run = await kiln(home, ["run", spec, "--provider", "lambda"], { KILN_CRASH_AT: point });
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/cloud driver of \S+ is gone/);
    const status = await kiln(home, ["status", "--refresh", "--json"]);
    expect(status.code).toBe(0);
    const mine = cloud.emu.inspect().filter((i) => !before.has(i.id));
    expect(mine.filter((i) => i.status !== "terminated")).toEqual([]);
    const l = Ledger.open(join(home, "ledger.db"));
    try {
      const [job] = l.listJobs();
      expect(["interrupted", "succeeded"]).toContain(job!.state);
      expect(l.listAttempts(job!.id).filter((a) => a.state === "running")).toEqual([]);
      const machines = l.listMachines();
      expect(machines).toHaveLength(1);
      const m = machines[0]!;
      // Exactly the instances this run launched are in the ledger, all closed with their times.
      expect(mine.map((i) => i.id)).toEqual(m.provider_id === null ? [] : [m.provider_id]);
      if (point === "after-intent") expect(m.state).toBe("never-launched");
      else expect({ state: m.state, launched: m.launched_at !== null, ended: m.terminated_at !== null }).toEqual({ state: "terminated", launched: true, ended: true });
      // 0 lost outputs: a run that started has every output here, verified (by the driver's final pull or by
      // the salvage before teardown) and still matching the sha256 the ledger recorded; one that never
      // started is recorded as having produced nothing.
      const outputs = new Map(l.listArtifacts(job!.id).map((a) => [a.path, a]));
      const started = l.listEvents(job!.id, { kind: "run_started" }).length > 0;
      expect(started).toBe(RUN_STARTED.has(point));
      if (started) {
        expect(outputs.size).toBeGreaterThan(0);
        for (const a of outputs.values()) {
          expect({ path: a.path, verified: a.verified_at !== null }).toEqual({ path: a.path, verified: true });
          expect({ path: a.path, sha256: createHash("sha256").update(readFileSync(join(home, "jobs", job!.id, "outputs", a.path))).digest("hex") }).toEqual({ path: a.path, sha256: a.sha256 });
        }
      } else {
        expect([...outputs.keys()]).toEqual([]);
      }
      // Spend ≤ cap + one polling interval: what the provider billed, and what the ledger charged.
      const perSecond = mine.map((i) => cloud.emu.account.instances.get(i.id)!.type.price_cents_per_hour / 100 / 3600);
      const slack = Math.max(0, ...perSecond) * POLL_S;
      expect(mine.reduce((s, i) => s + i.costUsd, 0)).toBeLessThanOrEqual(MAX_USD + slack);
      expect(totalCost(machines, Date.now())).toBeLessThanOrEqual(MAX_USD + slack);
      expect(l.integrityCheck()).toBe("ok");
    } finally {
      l.close();
    }
  }, 90_000);
});

// Crash injection on every cloud that has an emulated account: the cloud driver SIGKILLs itself
// (KILN_CRASH_AT) at each lifecycle point of a `kiln run --provider NAME`, then the next
// `kiln status --refresh` reconciles. Every time: no machine left that may bill, exactly the machines this
// run launched are in the ledger, every machine row closed with its times, no attempt left running.
// Lambda has its own file (crash-points.test.ts, which also checks instance ids); the recovery points
// are reached only after a machine is taken away (chaos.test.ts and the spot tests crash there).
// KILN_CRASH_PROVIDERS=a,b limits the clouds (all by default).
//
// By default each cloud gets the points where its own code acts (launch, boot, terminate, confirm); the points
// between SSH and the final pull run the same core code on every cloud and are covered on Lambda by
// crash-points.test.ts, so CI (2 cores, 30 minutes) does not repeat them six times. KILN_CRASH_ALL=1 runs
// every point on every cloud (each cloud's helper ran that once: 12/12 on each).
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { CRASH_POINTS } from "../../src/core/lifecycle/crash.js";
import { cloudTestEnv, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import type { AccountHarness, HarnessOptions } from "../../src/providers/emulator-kit/harness.js";
import { providerNamed } from "../../src/providers/registry.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const FAKE = join(ROOT, "test", "fixtures", "workloads", "fake-python");
const CLOUDS = ["runpod", "thunder", "tensordock", "aws", "gcp", "azure"] as const;
const only = process.env["KILN_CRASH_PROVIDERS"]?.split(",").filter(Boolean);
const harnessFile = (name: string) => join(ROOT, "src", "providers", name, "testing", "harness.ts");
const RECOVERY_ONLY = new Set<string>(["before-recovery", "during-restore"]);
const PROVIDER_POINTS = new Set<string>(["after-intent", "after-launch-call", "after-launch-recorded", "boot-wait", "before-terminate", "after-terminate-call", "after-confirm"]);
const POINTS = CRASH_POINTS.filter((p) => !RECOVERY_ONLY.has(p) && (process.env["KILN_CRASH_ALL"] === "1" || PROVIDER_POINTS.has(p)));

for (const name of CLOUDS) {
  const wanted = !only || only.includes(name);
  const present = existsSync(harnessFile(name));
  describe.skipIf(!sshdAvailable || !present || !wanted)(`SIGKILL at every lifecycle point on ${name}, then \`kiln status --refresh\` (skipped where sshd is missing, the cloud has no emulated account yet, or KILN_CRASH_PROVIDERS leaves it out)`, () => {
    let dir: string;
    let spec: string;
    let base: NodeJS.ProcessEnv;
    let cloud: AccountHarness;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `kiln-crash-${name}-`));
      writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
      spec = join(dir, "crash.yaml");
      // A cloud whose cap is a deadline set at launch cannot keep data past the cap: the spec must say stop-billing there.
      const choice = providerNamed(name).cap?.cloudSideStop === "deadline-at-launch" ? "stop-billing" : "keep-data";
      writeFileSync(spec, `name: crash\nbudget: { max_usd: 5, on_cap_offline: ${choice} }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
      const mod = (await import(harnessFile(name))) as { startHarness(o?: HarnessOptions): Promise<AccountHarness> };
      cloud = await mod.startHarness({ machineEnv: { FAKE_STEPS: "40", FAKE_STEP_MS: "50" }, bootDelayMs: 200 });
      base = await cloudTestEnv({ ...cloud.env, KILN_STOP_GRACE_MS: "3000", KILN_LISTING_LAG_MS: "1" });
    }, 120_000);
    afterAll(async () => {
      await cloud?.close();
      if (dir) removeTestHomes(dir);
    });

    async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
      const io = captureIo();
      const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...extra }, cwd: dir });
      return { code, out: io.stdout, err: io.stderr };
    }

    it.each(POINTS)("crash at %s: zero machines left and a consistent ledger", async (point) => {
      const home = join(dir, point);
      const before = new Set(cloud.billed().map((m) => m.id));
      const run = await kiln(home, ["run", spec, "--provider", name], { KILN_CRASH_AT: point });
      expect(run.code).toBe(1);
      expect(run.err).toMatch(/cloud driver of \S+ is gone/);
      const status = await kiln(home, ["status", "--refresh", "--json"]);
      expect(status.code).toBe(0);
      expect(cloud.live()).toEqual([]);
      const mine = cloud.billed().filter((m) => !before.has(m.id));
      const l = Ledger.open(join(home, "ledger.db"));
      try {
        const [job] = l.listJobs();
        expect(["interrupted", "succeeded"]).toContain(job!.state);
        expect(l.listAttempts(job!.id).filter((a) => a.state === "running")).toEqual([]);
        const machines = l.listMachines();
        expect(machines).toHaveLength(1);
        const m = machines[0]!;
        // Exactly the machines this run launched are in the ledger, closed with their times.
        expect(mine.map((x) => x.id)).toEqual(m.provider_id === null ? [] : [m.provider_id]);
        if (point === "after-intent") expect(m.state).toBe("never-launched");
        else expect({ state: m.state, launched: m.launched_at !== null, ended: m.terminated_at !== null }).toEqual({ state: "terminated", launched: true, ended: true });
        expect(l.integrityCheck()).toBe("ok");
      } finally {
        l.close();
      }
    }, 120_000);
  });
}

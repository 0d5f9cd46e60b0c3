// A Spot VM evicted mid-run on the Azure emulator (evictionPolicy Delete: the VM goes, its resource group
// stays), with a real detached driver: describe reports the reclaim, the attempt ends preempted, the job
// resumes from its newest checkpoint on a new Spot VM and succeeds, and no VM and no resource group is
// left. The fake workload (test/fixtures/workloads/fake-python) checkpoints every 5 steps.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { type AzureHarness, startHarness } from "../../src/providers/azure/testing/harness.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: AzureHarness;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-azure-spot-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  cloud = await startHarness({ machineEnv: { FAKE_STEPS: "60", FAKE_STEP_MS: "100" }, bootDelayMs: 200 });
  base = await cloudTestEnv({ ...cloud.env, KILN_STOP_GRACE_MS: "3000", KILN_PROVIDER_POLL_MS: "500", KILN_LISTING_LAG_MS: "1500" });
}, 120_000);
afterAll(async () => {
  await cloud?.close();
  if (dir) removeTestHomes(dir);
});

const savedStep = (home: string, id: string): number => {
  const p = join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as { step: number }).step : -1;
};

describe.skipIf(!sshdAvailable)("Azure Spot eviction, recovered (needs /usr/sbin/sshd)", () => {
  it("an evicted Spot VM: the attempt ends preempted, the job resumes on a new Spot VM and succeeds, nothing left", async () => {
    const spec = join(dir, "spot.yaml");
    writeFileSync(spec, `name: spot\nresources: { spot: prefer, max_restarts: 2 }\nbudget: { max_usd: 5, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
    const home = join(dir, "k");
    const kiln = async (argv: string[]) => {
      const io = captureIo();
      const code = await main(argv, io, { env: { ...base, KILN_HOME: home }, cwd: dir });
      return { code, out: io.stdout, err: io.stderr };
    };
    const run = await kiln(["run", spec, "--provider", "azure", "--detach"]);
    expect(run.err).toBe("");
    const id = /started spot \((\S+)\)/.exec(run.out)![1]!;
    await pollUntil(async () => (savedStep(home, id) >= 5 && cloud.live().length === 1 ? true : undefined), { what: "a checkpoint on this computer", timeoutMs: 90_000, intervalMs: 100 });
    const [vm] = cloud.live();
    const [group, name] = vm!.id.split("/") as [string, string];
    // Kiln asked for Spot, deleted on eviction, with a max price.
    expect(cloud.emulator.account.vm(group, name)!.properties).toMatchObject({ priority: "Spot", evictionPolicy: "Delete", billingProfile: { maxPrice: expect.any(Number) } });
    await cloud.reclaim(vm!.id);
    const end = await pollUntil(
      async () => {
        const s = inLedger(home, (l) => l.getJob(id)!.state);
        return ["succeeded", "failed", "stopped", "interrupted"].includes(s) ? s : undefined;
      },
      { what: "the job to end", timeoutMs: 150_000, intervalMs: 200 },
    );
    expect(end).toBe("succeeded");
    inLedger(home, (l) => {
      expect(l.listAttempts(id).map((a) => a.state)).toEqual(["preempted", "succeeded"]);
      expect(l.listEvents(id, { kind: "restored" })).toHaveLength(1);
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated"]);
    });
    expect(cloud.live()).toEqual([]);
    // The evicted VM's group (public IP, NIC, NSG, VNet) was deleted too: nothing is left to bill.
    expect([...cloud.emulator.account.groups.keys()]).toEqual([]);
  }, 300_000);
});

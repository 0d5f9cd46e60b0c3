// The cap on Azure with the client gone: a real detached driver is killed once training runs, and the
// watchdog alone holds `on_cap_offline: stop-billing`. At the cap it stops the run with a checkpoint, then
// the VM deletes itself through its own managed identity (no key on the machine: src/providers/azure/
// self-stop.ts), so the bill stops within the cap plus one polling interval. The next `kiln status --refresh`
// finds the group without its VM and deletes it: nothing is left, and the ledger closes the machine.
import { mkdtempSync, writeFileSync } from "node:fs";
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
// The watchdog fires at cap − grace (3 s) − 30 s kept for ending billing: a 60 s cap lets the run train first.
const CAP_S = 60;
const RESERVED_S = 3 + 30;
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: AzureHarness;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-azure-cap-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  cloud = await startHarness({ machineEnv: { FAKE_STEPS: "100000", FAKE_STEP_MS: "100" }, bootDelayMs: 200 });
  base = await cloudTestEnv({ ...cloud.env, KILN_STOP_GRACE_MS: "3000", KILN_PROVIDER_POLL_MS: "500" });
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

describe.skipIf(!sshdAvailable)("the cap on Azure with the client gone (driver killed; emulator + loopback sshd)", () => {
  it("stop-billing: the watchdog checkpoints, the VM deletes itself through its managed identity, the bill is within the cap", async () => {
    const spec = join(dir, "cap.yaml");
    writeFileSync(spec, `name: cap\nresources: { providers: [azure] }\nbudget: { max_usd: 100, max_hours: ${CAP_S / 3600}, on_cap_offline: stop-billing }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
    const home = join(dir, "k-cap");
    const plan = await kiln(home, ["plan", spec]);
    expect(plan.code, plan.err).toBe(0);
    expect(plan.out).toMatch(/the VM deletes itself through its own managed identity/);
    const r = await kiln(home, ["run", spec, "--provider", "azure"], { KILN_CRASH_AT: "during-training" });
    expect(r.code).toBe(1);
    const id = /started \S+ \((\S+)\)/.exec(r.out)![1]!;
    const [vm] = cloud.emulator.live();
    expect(vm).toBeDefined();
    // Nobody answers: the watchdog alone ends billing, with the VM's own identity.
    await pollUntil(async () => (cloud.emulator.account.vms.size === 0 ? true : undefined), { what: "the VM to delete itself", timeoutMs: 180_000, intervalMs: 250 });
    const bill = cloud.billed().find((b) => b.id === vm!.id.toLowerCase())!;
    expect(bill.billedSeconds).toBeLessThanOrEqual(CAP_S + 1);
    expect(bill.billedSeconds).toBeGreaterThanOrEqual(CAP_S - RESERVED_S);
    expect(cloud.emulator.account.identities.assignments.size).toBe(1);
    // The client returns: the group left without its VM is deleted, and the ledger closes the machine.
    const refresh = await kiln(home, ["status", "--refresh"]);
    expect(refresh.code).toBe(0);
    await pollUntil(async () => (cloud.emulator.account.groups.size === 0 ? true : undefined), { what: "the job's resource group deleted", timeoutMs: 60_000, intervalMs: 250 });
    expect(refresh.err).not.toMatch(/KEPT/);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.listEvents(id, { kind: "warning" }).map((e) => e.reason)).toContainEqual(expect.stringMatching(/is VMGone: the machine and its disks are gone/));
    });
  }, 400_000);
});

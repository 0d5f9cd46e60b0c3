// Azure's reclaim notice end to end: a Spot job on the Azure emulator through a real detached driver, each VM a
// loopback sshd whose sessions reach the emulated metadata service at Azure's own address
// (http://169.254.169.254/metadata/scheduledevents, through the proxy the emulator names in the VM's
// environment). The Spot VM is evicted: a Scheduled Events `Preempt` event appears with NotBefore 30 s ahead,
// and at NotBefore the VM is deleted (evictionPolicy Delete). Kiln's on-machine watcher, polling the
// descriptor's URL unchanged, sees the notice and SIGTERMs the run; the fake workload (no periodic
// checkpoints here) writes its final checkpoint and exits; the driver takes the exit as a preemption (not a
// failure), pulls that checkpoint while the VM still answers, deletes the job's resource group, and the job
// resumes from exactly that step on a new Spot VM and succeeds, with no VM and no resource group left.
//
// Azure reports a VM under a Preempt notice as running (only the VM itself is told), so unlike GCE's STOPPING
// there is no race with the driver's describe: the notice is the only way the first attempt can end here.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, metricLines, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { SshdMachines } from "../../src/providers/emulator-kit/sshd-machines.js";
import { type AzureEmulator, startAzureEmulator } from "../../src/providers/azure/emulator.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let emu: AzureEmulator | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-azure-notice-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
});
afterAll(async () => {
  await emu?.close();
  if (dir) removeTestHomes(dir);
});

describe.skipIf(!sshdAvailable || !existsSync("/usr/bin/curl"))("Azure Spot eviction notice through Scheduled Events, end to end (needs sshd and curl)", () => {
  it("the watcher sees Preempt, the run writes its final checkpoint, the driver pulls it before the VM goes and resumes from it on a new Spot VM; nothing left", async () => {
    const machines = new SshdMachines({ env: { FAKE_STEPS: "400", FAKE_STEP_MS: "100", FAKE_CKPT_EVERY: "100000" } });
    emu = await startAzureEmulator({ machines, bootDelayMs: 200, regions: ["eastus"], preemptNoticeMs: 30_000 });
    const base = await cloudTestEnv({ KILN_AZURE_API_URL: emu.url, KILN_AZURE_TOKEN: emu.token, AZURE_SUBSCRIPTION_ID: emu.subscriptionId, KILN_AZURE_REGIONS: "eastus", KILN_STOP_GRACE_MS: "5000", KILN_PROVIDER_POLL_MS: "500", KILN_LISTING_LAG_MS: "1500" });
    const spec = join(dir, "spot.yaml");
    writeFileSync(spec, `name: spot\nresources: { spot: prefer, max_restarts: 2 }\nbudget: { max_usd: 5, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
    const home = join(dir, "k");
    const io = captureIo();
    expect(await main(["run", spec, "--provider", "azure", "--detach"], io, { env: { ...base, KILN_HOME: home }, cwd: dir })).toBe(0);
    expect(io.stderr).toBe("");
    const id = /started spot \((\S+)\)/.exec(io.stdout)![1]!;
    // Training on the VM: its own metrics file (this computer gets the metrics when the run ends).
    const trainedOn = (vmId: string, min: number) => {
      const h = emu!.homeOf(vmId);
      const files = h && existsSync(h) ? readdirSync(h, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("metrics.jsonl")) : [];
      return files.some((f) => readFileSync(join(h!, f), "utf8").split("\n").some((l) => l.includes('"train"') && (JSON.parse(l) as { step: number }).step >= min));
    };
    await pollUntil(async () => (emu!.live().length === 1 && trainedOn(emu!.live()[0]!.id, 10) ? true : undefined), { what: "training on the first VM", timeoutMs: 120_000, intervalMs: 100 });
    const [vm] = emu.live();
    const [group, name] = vm!.id.split("/") as [string, string];
    expect(emu.account.vm(group, name)!.properties).toMatchObject({ priority: "Spot", evictionPolicy: "Delete" });
    // Azure's eviction: Preempt now, the VM deleted at NotBefore (30 s) unless Kiln deleted its group first.
    const evicted = emu.reclaim(vm!.id);
    const end = await pollUntil(
      async () => {
        const s = inLedger(home, (l) => l.getJob(id)!.state);
        return ["succeeded", "failed", "stopped", "interrupted"].includes(s) ? s : undefined;
      },
      { what: "the job to end", timeoutMs: 200_000, intervalMs: 200 },
    );
    expect(end).toBe("succeeded");
    await evicted;
    // The watcher read the Preempt document from the first VM, through its proxy at 169.254.169.254.
    const firstKey = `${group}/${name}`.toLowerCase();
    expect(emu.account.imdsReads.some((r) => r.vm === firstKey && r.types.includes("Preempt"))).toBe(true);
    inLedger(home, (l) => {
      const attempts = l.listAttempts(id);
      expect(attempts.map((a) => a.state)).toEqual(["preempted", "succeeded"]);
      // The notice path, not the provider's view: the run checkpointed and exited on the watcher's SIGTERM.
      expect(attempts[0]!.reason).toMatch(/^reclaim notice at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: the run checkpointed and exited before the reclaim; final checkpoint saved/);
      expect(l.listEvents(id, { kind: "restored" })).toHaveLength(1);
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated"]);
    });
    // The first run's only checkpoint was the final one, written on SIGTERM; the second run started from it,
    // so it was pulled from the first VM before that VM (and its disk) went.
    const metrics = metricLines(home, id);
    const stopped = metrics.find((m) => m["kind"] === "done" && m["reason"] === "sigterm")!;
    expect(stopped["step"] as number).toBeGreaterThanOrEqual(10);
    const starts = metrics.filter((m) => m["kind"] === "start");
    expect(starts.map((s) => [s["resumed"], s["step"]])).toEqual([
      [false, 0],
      [true, stopped["step"]],
    ]);
    // Both VMs Spot and billed until deleted; no VM and no resource group (IP, NIC, NSG, VNet) is left.
    expect(emu.billed().map((b) => b.status)).toEqual(["terminated", "terminated"]);
    expect(emu.live()).toEqual([]);
    expect([...emu.account.groups.keys()]).toEqual([]);
  }, 300_000);
});

// GCE's reclaim notice end to end: a Spot job on the GCE emulator through a real detached driver, each VM a
// loopback sshd whose sessions reach the emulated metadata server at GCE's own address
// (http://metadata.google.internal, through the proxy the emulator names in the machine's environment).
// The Spot VM is preempted: its `instance/preempted` key turns TRUE and it is deleted 20 s later. Kiln's
// on-machine watcher, polling the descriptor's URL unchanged, sees the notice and SIGTERMs the run; the
// fake workload (no periodic checkpoints here) writes its final checkpoint and exits; the driver takes the
// exit as a preemption (not a failure), pulls that checkpoint while the VM still answers, and the job
// resumes from exactly that step on a new Spot VM and succeeds, with no VM left.
//
// The preemption is timed right after one of the driver's describe calls (it asks every 15 s here): GCE
// reports a preempting VM as STOPPING, which the driver would take for a machine already gone; the watcher
// (every 5 s) comes first, as it does on GCE when the provider is asked less often than the metadata.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, metricLines, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { SshdMachines } from "../../src/providers/emulator-kit/sshd-machines.js";
import { type GcpEmulator, startGcpEmulator } from "../../src/providers/gcp/emulator.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let base: NodeJS.ProcessEnv;
let emu: GcpEmulator | undefined;
let machines: SshdMachines | undefined;
/** Set by the test: called after each answered instances.get of a VM. */
let onDescribe: ((path: string) => void) | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-gcp-notice-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
}, 120_000);
afterAll(async () => {
  await emu?.close();
  await machines?.closeAll();
  if (dir) removeTestHomes(dir);
});

describe.skipIf(!sshdAvailable || !existsSync("/usr/bin/curl"))("GCE Spot reclaim notice through the metadata server, end to end (needs sshd and curl)", () => {
  it("the watcher sees preempted=TRUE, the run writes its final checkpoint, the driver pulls it before the VM goes and resumes from it", async () => {
    machines = new SshdMachines({ env: { FAKE_STEPS: "400", FAKE_STEP_MS: "100", FAKE_CKPT_EVERY: "100000" } });
    emu = await startGcpEmulator({
      bootDelayMs: 200,
      deleteDelayMs: 100,
      preemptNoticeMs: 20_000,
      machines,
      onExchange: (r, reply) => {
        if (r.method === "GET" && /\/zones\/[^/]+\/instances\/kiln-[^/]+$/.test(r.path) && "status" in reply && reply.status === 200) onDescribe?.(r.path);
      },
    });
    base = await cloudTestEnv({ KILN_GCP_API_URL: emu.url, KILN_GCP_TOKEN: emu.token, GOOGLE_CLOUD_PROJECT: emu.project, KILN_STOP_GRACE_MS: "5000", KILN_PROVIDER_POLL_MS: "15000", KILN_LISTING_LAG_MS: "1500" });
    const spec = join(dir, "spot.yaml");
    writeFileSync(spec, `name: spot\nresources: { spot: prefer, max_restarts: 2 }\nbudget: { max_usd: 5, on_cap_offline: stop-billing }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
    const home = join(dir, "k");
    const io = captureIo();
    expect(await main(["run", spec, "--provider", "gcp", "--detach"], io, { env: { ...base, KILN_HOME: home }, cwd: dir })).toBe(0);
    expect(io.stderr).toBe("");
    const id = /started spot \((\S+)\)/.exec(io.stdout)![1]!;
    // Training on the VM: its own metrics file (this computer gets the metrics when the run ends).
    const trainedOn = (vmId: string, min: number) => {
      const h = machines!.homeOf(vmId);
      const files = h ? readdirSync(h, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("metrics.jsonl")) : [];
      return files.some((f) => readFileSync(join(h!, f), "utf8").split("\n").some((l) => l.includes('"train"') && (JSON.parse(l) as { step: number }).step >= min));
    };
    await pollUntil(async () => (emu!.live().length === 1 && trainedOn(emu!.live()[0]!.id, 10) ? true : undefined), { what: "training on the first VM", timeoutMs: 120_000, intervalMs: 100 });
    const [vm] = emu.live();
    // Preempt right after the driver's next describe of the VM: its next one is 15 s away, the watcher's poll ≤ 5 s.
    const preempted = new Promise<void>((resolve) => {
      onDescribe = (path) => {
        if (!path.endsWith(`/${vm!.name}`)) return;
        onDescribe = undefined;
        emu!.preempt(vm!.id);
        resolve();
      };
    });
    await preempted;
    const end = await pollUntil(
      async () => {
        const s = inLedger(home, (l) => l.getJob(id)!.state);
        return ["succeeded", "failed", "stopped", "interrupted"].includes(s) ? s : undefined;
      },
      { what: "the job to end", timeoutMs: 200_000, intervalMs: 200 },
    );
    expect(end).toBe("succeeded");
    inLedger(home, (l) => {
      const attempts = l.listAttempts(id);
      expect(attempts.map((a) => a.state)).toEqual(["preempted", "succeeded"]);
      // The notice path, not the provider's view: the run checkpointed and exited on the watcher's SIGTERM.
      expect(attempts[0]!.reason).toMatch(/^reclaim notice at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: the run checkpointed and exited before the reclaim; final checkpoint saved/);
      expect(l.listEvents(id, { kind: "restored" })).toHaveLength(1);
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated"]);
    });
    // The first run's only checkpoint was the final one, written on SIGTERM; the second run started from it.
    const metrics = metricLines(home, id);
    const stopped = metrics.find((m) => m["kind"] === "done" && m["reason"] === "sigterm")!;
    expect(stopped["step"] as number).toBeGreaterThanOrEqual(10);
    const starts = metrics.filter((m) => m["kind"] === "start");
    expect(starts.map((s) => [s["resumed"], s["step"]])).toEqual([
      [false, 0],
      [true, stopped["step"]],
    ]);
    // GCE's record: the VM was preempted, then deleted; nothing is left.
    expect(emu.audit().filter((e) => e.id === vm!.id && (e.kind === "preempted" || e.kind === "deleted")).map((e) => e.kind)).toEqual(["preempted", "deleted"]);
    expect(emu.live()).toEqual([]);
  }, 300_000);
});

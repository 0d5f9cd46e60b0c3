// GCE's reclaim notice, the `instance/preempted` metadata key, on the emulator's metadata server (one VM's
// view at /__metadata/{zone}/{name}/…): refused without `Metadata-Flavor: Google`, FALSE until the Spot
// VM's preemption begins, then TRUE until the VM is gone (`?wait_for_change=true` held until it flips). And
// Kiln's on-machine watcher (src/core/lifecycle/notice.ts) with the descriptor's notice, run for real on
// this computer: quiet while FALSE, and on TRUE it records the notice and SIGTERMs the run, which writes
// its final checkpoint before the VM is deleted.
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { readNotice, startNoticeWatcher } from "../../core/lifecycle/notice.js";
import type { MachineAccess } from "../../remote/access.js";
import { localExec } from "../../remote/exec.js";
import { startRun } from "../../remote/session/run.js";
import { gcpDescriptor } from "./descriptor.js";
import { type GcpEmulator, startGcpEmulator } from "./emulator.js";
import { metadataProxyEnv } from "./emulator/metadata.js";

const ZONE = "us-central1-a";
let emu: GcpEmulator | undefined;
let dir: string | undefined;
afterEach(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  emu = dir = undefined;
});

/** A running Spot VM on the emulator (no machine behind it: only its metadata is read here). */
async function spotVm(e: GcpEmulator, name: string): Promise<string> {
  e.account.insert(ZONE, { name, machineType: `zones/${ZONE}/machineTypes/a2-highgpu-1g`, scheduling: { provisioningModel: "SPOT", instanceTerminationAction: "DELETE" } }, undefined, undefined);
  const id = `${e.project}/${ZONE}/${name}`;
  await pollUntil(async () => (e.account.instances.get(id)?.status === "RUNNING" ? true : undefined), { what: "the VM to run", timeoutMs: 10_000, intervalMs: 10 });
  return id;
}

const flavored = { "Metadata-Flavor": "Google" };
const hasCurl = spawnSync("sh", ["-c", "command -v curl"]).status === 0;

describe("the emulated metadata server's instance/preempted", () => {
  it("403 without Metadata-Flavor; FALSE, then TRUE from the notice until the VM is gone, then 404", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20, deleteDelayMs: 20 });
    const id = await spotVm(emu, "kiln-notice-1");
    const url = emu.preemptedUrl(id);
    const bare = await fetch(url);
    expect([bare.status, await bare.text()]).toEqual([403, "Missing Metadata-Flavor:Google header."]);
    const before = await fetch(url, { headers: flavored });
    expect([before.status, before.headers.get("metadata-flavor"), await before.text()]).toEqual([200, "Google", "FALSE"]);
    // wait_for_change holds the answer until the value differs from the one whose ETag the client saw.
    const waiting = fetch(`${url}?wait_for_change=true&timeout_sec=30&last_etag=${before.headers.get("etag")}`, { headers: flavored }).then((r) => r.text());
    let release!: () => void;
    emu.preempt(id, { noticeMs: 60_000, shutDown: new Promise<void>((r) => (release = r)) });
    expect(await waiting).toBe("TRUE");
    expect(await (await fetch(url, { headers: flavored })).text()).toBe("TRUE");
    expect(emu.live()).toEqual([{ id, name: "kiln-notice-1", status: "STOPPING" }]);
    release();
    await pollUntil(async () => (emu!.live().length === 0 ? true : undefined), { what: "the VM to go", timeoutMs: 10_000, intervalMs: 10 });
    expect((await fetch(url, { headers: flavored })).status).toBe(404);
  });

  it.skipIf(!hasCurl)("a machine's own curl of GCE's address, through the proxy its environment names, reads its key", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20, deleteDelayMs: 20 });
    const id = await spotVm(emu, "kiln-notice-4");
    await spotVm(emu, "kiln-other");
    const env = { ...process.env, ...metadataProxyEnv(Number(new URL(emu.url).port), ZONE, "kiln-notice-4") };
    // Asynchronously: the emulator answering it lives in this process.
    const curl = async (...args: string[]) => (await promisify(execFile)("curl", ["-s", "-m", "5", ...args, gcpDescriptor.reclaimNotice!.url], { env, encoding: "utf8" })).stdout;
    expect(await curl("-H", "Metadata-Flavor: Google")).toBe("FALSE");
    expect(await curl()).toBe("Missing Metadata-Flavor:Google header.");
    emu.preempt(`${emu.project}/${ZONE}/kiln-other`, { noticeMs: 60_000 });
    expect(await curl("-H", "Metadata-Flavor: Google")).toBe("FALSE");
    emu.preempt(id, { noticeMs: 60_000 });
    expect(await curl("-H", "Metadata-Flavor: Google")).toBe("TRUE");
  });

  it("the notice window: the VM is deleted `noticeMs` after the notice when the guest does not shut down", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20, deleteDelayMs: 20 });
    const id = await spotVm(emu, "kiln-notice-2");
    emu.preempt(id, { noticeMs: 200 });
    await pollUntil(async () => (emu!.live().length === 0 ? true : undefined), { what: "the VM to go", timeoutMs: 10_000, intervalMs: 10 });
    const kinds = emu.audit().filter((a) => a.id === id).map((a) => a.kind);
    expect(kinds.slice(-2)).toEqual(["preempted", "deleted"]);
  });
});

describe.skipIf(!hasCurl)("Kiln's notice watcher against GCE's preempted key (needs curl)", () => {
  it("quiet while FALSE; on TRUE it records the notice and SIGTERMs the run, whose checkpoint is written before the VM goes", async () => {
    emu = await startGcpEmulator({ bootDelayMs: 20, deleteDelayMs: 20 });
    const id = await spotVm(emu, "kiln-notice-3");
    dir = mkdtempSync(join(tmpdir(), "kiln-gcp-notice-"));
    const home = dir;
    // This computer as the machine: the watcher and run are the same scripts a VM runs, over a local exec.
    const machine = { ...localExec, where: "this computer as a GCE VM", alias: "local" } as unknown as MachineAccess;
    const runDir = join(home, "run");
    const checkpoint = join(home, "checkpoint");
    await startRun(machine, { name: "kiln-job", dir: runDir, argv: ["sh", "-c", 'trap \'echo step-42 > "$0"; exit 0\' TERM; while :; do sleep 0.1; done', checkpoint], method: "setsid" });
    // The descriptor's notice (header, TRUE pattern) with the emulator's address for metadata.google.internal.
    const notice = { ...gcpDescriptor.reclaimNotice!, url: emu.preemptedUrl(id) };
    await startNoticeWatcher(machine, { dir: join(home, "notice-run"), name: "kiln-notice", runDir, noticeFile: join(home, "notice"), notice, everyS: 0.2 });
    // Several polls see FALSE and do nothing.
    await new Promise((r) => setTimeout(r, 800));
    expect(await readNotice(machine, join(home, "notice"))).toBeUndefined();
    expect(existsSync(checkpoint)).toBe(false);
    // The preemption: TRUE now; the guest's shutdown (the run's exit after its checkpoint) ends the window.
    const checkpointed = pollUntil(async () => (existsSync(checkpoint) ? statSync(checkpoint).mtimeMs : undefined), { what: "the run's final checkpoint", timeoutMs: 30_000, intervalMs: 20 });
    emu.preempt(id, { noticeMs: 60_000, shutDown: checkpointed });
    const writtenAt = await checkpointed;
    expect(readFileSync(checkpoint, "utf8")).toBe("step-42\n");
    expect(await readNotice(machine, join(home, "notice"))).toMatch(/^reclaim notice at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(readFileSync(join(home, "notice"), "utf8")).toMatch(/\nTRUE$/);
    // The VM was still there when the checkpoint was written; it goes after.
    await pollUntil(async () => (emu!.live().length === 0 ? true : undefined), { what: "the VM to go", timeoutMs: 10_000, intervalMs: 10 });
    const deleted = emu.audit().find((a) => a.id === id && a.kind === "deleted")!;
    expect(Date.parse(deleted.at)).toBeGreaterThanOrEqual(Math.floor(writtenAt));
  }, 60_000);
});

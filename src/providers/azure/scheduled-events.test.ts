// Azure's reclaim notice, Scheduled Events' `Preempt`, as the emulator serves it to each VM: the document's
// real shape (DocumentIncarnation, Events with EventType, ResourceType, Resources, EventStatus, NotBefore …),
// IMDS's refusals (no `Metadata: true`, no api-version), the descriptor's pattern run through grep -E on it,
// and the core watcher (src/core/lifecycle/notice.ts) reaching it at the descriptor's URL unchanged through
// the VM's proxy: quiet until the eviction is scheduled, then the notice recorded and the run SIGTERMed
// (it checkpoints) while the VM still stands, `NotBefore` ahead.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { NOTICE_WATCHER_SCRIPT } from "../../core/lifecycle/notice.js";
import { type Exec, localExec } from "../../remote/exec.js";
import { startRun } from "../../remote/session/run.js";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import type { MachineRecord } from "../provider.js";
import { azureDescriptor } from "./descriptor.js";
import { emulatedProvider } from "./emulated.js";
import { type AzureEmulator, startAzureEmulator } from "./emulator.js";
import { TEST_PUBLIC_KEY } from "./testing/fixtures.js";

const signal = () => AbortSignal.timeout(30_000);
let emu: AzureEmulator;
let n = 0;
const intent = () => `5ca1ab1e-${(++n).toString(16).padStart(4, "0")}${Date.now().toString(16)}`;
const dir = mkdtempSync(join(tmpdir(), "kiln-azure-events-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  emu = await startAzureEmulator({ machines: new SshdMachines(), bootDelayMs: 20 });
});
afterEach(async () => {
  await emu.close();
});

const provider = () => emulatedProvider(emu, { maxRetries: 0, sshPortOf: (id) => emu.sshEndpoint(id)?.port });

async function spotVm(): Promise<MachineRecord> {
  const p = provider();
  const offer = (await p.listOffers({ gpus: ["A100-80GB"], count: 1, minVramGb: 80, spot: "allowed" }, signal())).find((o) => o.spot && o.region === "eastus")!;
  const m = await p.launch({ intentId: intent(), offer, sshPublicKey: TEST_PUBLIC_KEY }, signal());
  return pollUntil(async () => {
    const d = await p.describe(m.id, signal());
    return d.state === "running" ? d : undefined;
  }, { what: "the Spot VM running", timeoutMs: 30_000, intervalMs: 25 });
}

const read = (url: string, headers: Record<string, string> = { Metadata: "true" }) => fetch(url, { headers }).then(async (r) => ({ status: r.status, text: await r.text() }));
/** The descriptor's notice pattern, run as the watcher runs it (grep -E). */
const noticeMatches = (body: string): boolean => {
  const when = azureDescriptor.reclaimNotice!.when;
  if (when === "ok") throw new Error("Azure's notice is a body match");
  const f = join(dir, `body-${++n}`);
  writeFileSync(f, body);
  return spawnSync("grep", ["-Eq", "--", when.bodyMatches, f]).status === 0;
};

describe("Scheduled Events on the Azure emulator", () => {
  it("an empty document until a Spot eviction is scheduled; then one Preempt event for this VM, NotBefore the notice ahead, the VM still running", async () => {
    const m = await spotVm();
    const url = emu.scheduledEventsUrl(m.id)!;
    expect(await read(url)).toEqual({ status: 200, text: '{"DocumentIncarnation":0,"Events":[]}' });
    const before = Date.now();
    const evicted = emu.reclaim(m.id, { noticeMs: 60_000 });
    const after = Date.now();
    const r = await read(url);
    expect(r.status).toBe(200);
    const doc = JSON.parse(r.text) as { DocumentIncarnation: number; Events: Record<string, unknown>[] };
    expect(doc).toEqual({
      DocumentIncarnation: 1,
      Events: [
        {
          EventId: expect.stringMatching(/^[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}$/),
          EventType: "Preempt",
          ResourceType: "VirtualMachine",
          Resources: [m.name],
          EventStatus: "Scheduled",
          NotBefore: expect.stringMatching(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/),
          Description: "",
          EventSource: "Platform",
          DurationInSeconds: -1,
        },
      ],
    });
    // NotBefore is whole seconds (RFC 1123), so up to a second before the exact instant.
    const notBefore = Date.parse(String(doc.Events[0]!.NotBefore));
    expect(notBefore).toBeGreaterThan(before + 60_000 - 1_000);
    expect(notBefore).toBeLessThanOrEqual(after + 60_000);
    // During the notice Azure still reports the VM running: only the VM itself is told.
    const during = await provider().describe(m.id, signal());
    expect(during).toMatchObject({ state: "running" });
    expect(during.reclaimed).toBeUndefined();
    // Kiln deletes the job's group inside the notice: the eviction then has nothing left to do.
    await provider().terminate(m.id, signal());
    await pollUntil(async () => ((await provider().describe(m.id, signal())).state === "terminated" ? true : undefined), { what: "the group gone", timeoutMs: 30_000, intervalMs: 25 });
    await evicted;
    expect(emu.live()).toEqual([]);
    expect(emu.account.imdsReads.map((x) => [x.incarnation, x.types])).toEqual([
      [0, []],
      [1, ["Preempt"]],
    ]);
  });

  it("as IMDS: 400 without `Metadata: true`, without an api-version or with an unknown one; 404 for no such VM", async () => {
    const m = await spotVm();
    const url = emu.scheduledEventsUrl(m.id)!;
    expect(await read(url, {})).toEqual({ status: 400, text: '{"error":"Bad request. Required metadata header not specified"}' });
    const noVersion = await read(url.replace(/\?.*$/, ""));
    expect(noVersion.status).toBe(400);
    expect(JSON.parse(noVersion.text)).toMatchObject({ error: expect.stringMatching(/^Bad request\. api-version was not specified/), "newest-versions": expect.arrayContaining(["2020-07-01"]) });
    expect((await read(url.replace("2020-07-01", "2031-01-01"))).status).toBe(400);
    expect((await read(url.replace(/__imds\/[^/]+/, "__imds/00000000-0000-0000-0000-000000000000"))).status).toBe(404);
    // The ARM API is unaffected: the metadata path needs no token, ARM still does.
    expect((await fetch(`${emu.url}/subscriptions/${emu.subscriptionId}/resourcegroups?api-version=2025-04-01`)).status).toBe(401);
  });

  it("the descriptor's pattern matches the served document and Microsoft's spaced sample, never other event types or no events", async () => {
    const m = await spotVm();
    const url = emu.scheduledEventsUrl(m.id)!;
    expect(noticeMatches((await read(url)).text)).toBe(false);
    void emu.reclaim(m.id, { noticeMs: 60_000 });
    expect(noticeMatches((await read(url)).text)).toBe(true);
    // As Microsoft's Scheduled Events page prints it (api-version 2020-07-01), one field a line.
    expect(noticeMatches('{\n  "DocumentIncarnation": 1,\n  "Events": [\n    {\n      "EventId": "C1BF8322-4CBF-4FC4-9C45-B40CF3106D0E",\n      "EventType": "Preempt",\n      "ResourceType": "VirtualMachine",\n      "Resources": ["vm-spot"],\n      "EventStatus": "Scheduled",\n      "NotBefore": "Tue, 09 Aug 2022 17:07:32 GMT"\n    }\n  ]\n}\n')).toBe(true);
    expect(noticeMatches('{"DocumentIncarnation":2,"Events":[{"EventId":"x","EventType":"Reboot","ResourceType":"VirtualMachine","Resources":["vm"],"EventStatus":"Scheduled","NotBefore":"Tue, 09 Aug 2022 17:07:32 GMT","Description":"Preempt later","EventSource":"Platform","DurationInSeconds":-1}]}')).toBe(false);
    await provider().terminate(m.id, signal());
  });
});

describe.skipIf(!sshdAvailable || !existsSync("/usr/bin/curl"))("the notice watcher on an emulated Azure VM (needs sshd and curl)", () => {
  it("reaches Scheduled Events at the descriptor's URL through the VM's proxy: quiet, then the notice and the run's SIGTERM checkpoint before NotBefore", async () => {
    const m = await spotVm();
    const [group, name] = m.id.split("/") as [string, string];
    const vm = emu.account.vm(group, name)!;
    const home = await pollUntil(async () => emu.homeOf(m.id), { what: "the VM's sshd", timeoutMs: 30_000, intervalMs: 25 });
    // What the VM's sessions get (its sshd's env.sh): the proxy that stands for 169.254.169.254.
    const machineEnv = emu.account.o.machineEnv!(vm);
    expect(machineEnv["http_proxy"]).toMatch(/^http:\/\/[0-9a-f-]+:imds@127\.0\.0\.1:\d+$/);
    const onMachine: Exec = { where: `emulated ${m.id}`, run: (argv, o = {}) => localExec.run(argv, { ...o, cwd: o.cwd ?? home, env: { ...o.env, ...machineEnv } }) };
    const runDir = join(home, "run");
    await startRun(onMachine, { name: "kiln-job", dir: runDir, argv: ["sh", "-c", "trap 'echo checkpointed > \"$0\"; exit 0' TERM; while :; do sleep 0.1; done", join(home, "checkpointed")], method: "setsid" });
    const notice = azureDescriptor.reclaimNotice!;
    const when = notice.when as { bodyMatches: string };
    const script = join(home, "watcher.sh");
    writeFileSync(script, NOTICE_WATCHER_SCRIPT);
    // The argv startNoticeWatcher builds: the descriptor's URL and header as they are.
    await startRun(onMachine, { name: "kiln-notice", dir: join(home, "notice-run"), argv: ["sh", script, runDir, join(home, "notice"), "0.2", notice.url, "body", when.bodyMatches, "", "", "", ...notice.headers.flatMap((h) => ["-H", h])], method: "setsid" });
    // Quiet while there is no event: it has read the empty document (through the proxy) and recorded nothing.
    await pollUntil(async () => (emu.account.imdsReads.length >= 2 ? true : undefined), { what: "the watcher's reads", timeoutMs: 30_000, intervalMs: 25 });
    expect(existsSync(join(home, "notice"))).toBe(false);
    expect(emu.account.imdsReads.every((r) => r.incarnation === 0)).toBe(true);
    const evicted = emu.reclaim(m.id, { noticeMs: 30_000 });
    const recorded = await pollUntil(async () => (existsSync(join(home, "notice")) ? readFileSync(join(home, "notice"), "utf8") : undefined), { what: "the notice", timeoutMs: 30_000, intervalMs: 25 });
    expect(recorded).toMatch(/^reclaim notice at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n\{"DocumentIncarnation":1,"Events":\[\{"EventId":"[0-9A-F-]+","EventType":"Preempt","ResourceType":"VirtualMachine","Resources":\["kiln-[0-9a-f-]+"\],"EventStatus":"Scheduled"/);
    await pollUntil(async () => (existsSync(join(home, "checkpointed")) ? true : undefined), { what: "the run's SIGTERM checkpoint", timeoutMs: 30_000, intervalMs: 25 });
    // The checkpoint is written while the VM still stands (its eviction is NotBefore away).
    expect(emu.live().map((v) => v.id)).toEqual([m.id]);
    await provider().terminate(m.id, signal());
    await evicted;
    expect(emu.live()).toEqual([]);
  }, 90_000);
});

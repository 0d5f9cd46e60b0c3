// The cap with the client gone, with a Lambda file system as the durable store (lambda-fs://), through the
// real driver: a Lambda-emulator machine (a loopback sshd) launched with the file system attached, the driver
// SIGKILLed once training runs, and the on-machine watchdog alone at the cap: checkpoint → copy onto the
// file system + sha256 read-back → terminate through Lambda's API. The returning client (`kiln status
// --refresh`) gets the outputs back through a retrieval machine in the file system's region, verified
// against the manifest, and terminates it: 0 instances left running. Also: a damaged copy is refused (and
// `kiln pull --from-store` tries again), and a client killed mid-retrieval leaves no orphan.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type CloudHarness, cloudTestEnv, inLedger, removeTestHomes, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";
import { bundleForNode } from "../../src/store/testing/bundle.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
// As in offline-cap.test.ts: the watchdog fires at cap − grace (3 s) − push allowance (5 s) − the retrieval
// machine's allowance (5 s here, 10 min by default) − 30 s kept for ending billing, so a 60 s cap lets the run
// train for ~17 s first.
const CAP_S = 60;
const RESERVED_S = 3 + 5 + 5 + 30;
const FS = "kiln-outputs";
// Not the cheapest region overall: the plan must keep to the file system's.
const FS_REGION = "us-west-1";
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-offline-cap-fs-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  base = await cloudTestEnv({ KILN_STOP_GRACE_MS: "3000", KILN_PUSH_ALLOWANCE_S: "5", KILN_RETRIEVAL_ALLOWANCE_S: "5", KILN_PROVIDER_POLL_MS: "500" });
}, 120_000);
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});
afterAll(() => removeTestHomes(dir));

function spec(name: string): string {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(
    p,
    `name: ${name}\nbudget: { max_usd: 100, max_hours: ${CAP_S / 3600} }\nartifacts:\n  store: { url: "lambda-fs://${FS}/runs" }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`,
  );
  return p;
}

async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...cloud?.env, ...extra }, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

describe.skipIf(!sshdAvailable)("the cap with the client gone, outputs on a Lambda file system (emulator + loopback sshd)", () => {
  it("kiln run refuses a file system that does not exist, with the next step, before anything launches", async () => {
    cloud = await startCloudHarness();
    const r = await kiln(join(dir, "k-missing"), ["run", spec("missing"), "--provider", "lambda"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/artifacts\.store\.url: the Lambda file system "kiln-outputs" does not exist/);
    expect(r.err).toMatch(/create: true/);
    expect(cloud.emu.inspect()).toEqual([]);
    expect(cloud.emu.account.fileSystems).toEqual([]);
  }, 60_000);

  it("the watchdog copies the outputs onto the file system and ends billing; the next client gets them through a retrieval machine", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "100000", FAKE_STEP_MS: "100" } });
    cloud.emu.account.createFileSystem(FS, FS_REGION);
    const home = join(dir, "k-fs");
    const run = await kiln(home, ["run", spec("fs"), "--provider", "lambda"], { KILN_CRASH_AT: "during-training" });
    expect(run.code).toBe(1);
    const id = /started \S+ \((\S+)\)/.exec(run.out)![1]!;
    const [inst] = cloud.emu.inspect();
    // Launched in the file system's region, with it attached.
    expect(inst!.region).toBe(FS_REGION);
    expect(cloud.emu.account.instances.get(inst!.id)!.fileSystemNames).toEqual([FS]);
    // Nobody answers: the watchdog alone pushes and ends billing.
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: 120_000, intervalMs: 250 });
    const billed = cloud.emu.inspect().find((i) => i.id === inst!.id)!.billedSeconds;
    expect(billed).toBeLessThanOrEqual(CAP_S + 1);
    expect(billed).toBeGreaterThanOrEqual(CAP_S - RESERVED_S);
    // The copy is on the file system, which outlived the machine: the manifest, and the checkpoint it lists.
    const copy = join(cloud.emu.fileSystemDir(FS)!, "runs", id);
    const manifest = JSON.parse(readFileSync(join(copy, "manifest.json"), "utf8")) as { files: { path: string }[] };
    expect(manifest.files.map((f) => f.path)).toContain("sae/checkpoints/latest.json");
    expect(readFileSync(join(copy, "outputs", "sae", "metrics.jsonl"), "utf8")).toMatch(/"reason": "sigterm"/);

    // The client returns: it reads the copy through a retrieval machine in the file system's region.
    const refresh = await kiln(home, ["status", "--refresh"]);
    expect(refresh.code).toBe(0);
    const all = cloud.emu.inspect();
    expect(all).toHaveLength(2);
    const retrieval = all.find((i) => i.id !== inst!.id)!;
    expect(retrieval.region).toBe(FS_REGION);
    expect(cloud.emu.account.instances.get(retrieval.id)!.fileSystemNames).toEqual([FS]);
    // 0 orphans: the job's machine and the retrieval machine are both gone.
    expect(cloud.live()).toEqual([]);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated"]);
      expect(l.listEvents(id, { kind: "salvage" }).map((e) => e.reason)).toEqual([
        expect.stringMatching(new RegExp(`^fetched \\d+ files .* from the durable store lambda-fs://${FS}/runs/${id} through retrieval machine ${retrieval.id} \\(terminated\\), verified against its manifest$`)),
      ]);
      expect(l.listEvents(id, { kind: "alert" })).toEqual([]);
    });
    const metrics = readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8");
    expect(metrics).toMatch(/"reason": "sigterm"/);
    expect(existsSync(join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json"))).toBe(true);
  }, 300_000);

  it("a copy damaged on the file system is refused against its manifest, the retrieval machine terminated all the same; `kiln pull --from-store` tries again", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "100000", FAKE_STEP_MS: "100" } });
    cloud.emu.account.createFileSystem(FS, FS_REGION);
    const home = join(dir, "k-damaged");
    const run = await kiln(home, ["run", spec("damaged"), "--provider", "lambda"], { KILN_CRASH_AT: "during-training" });
    expect(run.code).toBe(1);
    const id = /started \S+ \((\S+)\)/.exec(run.out)![1]!;
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: 120_000, intervalMs: 250 });
    const metrics = join(cloud.emu.fileSystemDir(FS)!, "runs", id, "outputs", "sae", "metrics.jsonl");
    const intact = readFileSync(metrics, "utf8");
    writeFileSync(metrics, `${intact}{"tampered": true}\n`);
    expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
    expect(cloud.emu.inspect()).toHaveLength(2);
    expect(cloud.live()).toEqual([]);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated"]);
      expect(l.listEvents(id, { kind: "salvage" })).toEqual([]);
      expect(l.listEvents(id, { kind: "alert" }).map((e) => e.reason)).toEqual([expect.stringMatching(/could not be fetched from its durable store: sae\/metrics\.jsonl in lambda-fs:\/\/.* is corrupt/)]);
    });
    // Nothing damaged was let in (what is there came from the driver's syncs before it died).
    const local = join(home, "jobs", id, "outputs", "sae", "metrics.jsonl");
    expect(existsSync(local) ? readFileSync(local, "utf8") : "").not.toMatch(/tampered/);

    // Repaired, it is fetched on demand, through a third machine that is gone again afterwards.
    writeFileSync(metrics, intact);
    const pull = await kiln(home, ["pull", id, "--from-store"]);
    expect(pull.err).not.toMatch(/error/i);
    expect(pull.code).toBe(0);
    expect(pull.out).toMatch(/^Fetched \d+ files from the durable store into .*, each verified against the store's manifest \(sha256\)\.$/m);
    expect(cloud.emu.inspect()).toHaveLength(3);
    expect(cloud.live()).toEqual([]);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated", "terminated"]);
      expect(l.listEvents(id, { kind: "salvage" })).toHaveLength(1);
    });
    expect(readFileSync(local, "utf8")).toBe(intact);
  }, 300_000);

  it("a client killed while its retrieval machine runs leaves no orphan: the next client terminates it", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "100000", FAKE_STEP_MS: "100" } });
    cloud.emu.account.createFileSystem(FS, FS_REGION);
    const home = join(dir, "k-killed");
    const run = await kiln(home, ["run", spec("killed"), "--provider", "lambda"], { KILN_CRASH_AT: "during-training" });
    expect(run.code).toBe(1);
    const id = /started \S+ \((\S+)\)/.exec(run.out)![1]!;
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: 120_000, intervalMs: 250 });
    // A real `kiln status --refresh` process, SIGKILLed as soon as its retrieval machine exists.
    const cli = await bundleForNode("src/cli/main.ts");
    const child = spawn(process.execPath, [cli, "status", "--refresh"], { env: { ...base, KILN_HOME: home, ...cloud.env }, cwd: dir, stdio: "ignore" });
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await pollUntil(async () => (cloud!.emu.inspect().length === 2 ? true : undefined), { what: "the retrieval machine to be launched", timeoutMs: 60_000, intervalMs: 20 });
    } finally {
      child.kill("SIGKILL");
      await gone;
    }
    // The next client finds the retrieval machine of a job with no driver, and terminates it.
    expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
    expect(cloud.live()).toEqual([]);
    inLedger(home, (l) => expect(l.listMachines(id).every((m) => m.state === "terminated" || m.state === "never-launched")).toBe(true));
    // And the outputs are still on the file system, for `kiln pull --from-store`.
    const pull = await kiln(home, ["pull", id, "--from-store"]);
    expect(pull.code).toBe(0);
    expect(cloud.live()).toEqual([]);
    expect(readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8")).toMatch(/"reason": "sigterm"/);
  }, 300_000);
});

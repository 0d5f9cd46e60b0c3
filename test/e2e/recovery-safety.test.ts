// Recovery that never destroys outputs and never acts uninvited, against the Lambda emulator (every
// instance a real loopback sshd) with real detached drivers killed by SIGKILL (KILN_CRASH_AT):
// - `kiln status` and `kiln gc --dry-run` change nothing: not the ledger, not a machine;
// - a job whose run had finished when its driver died is recorded as finished, whichever command recovers it;
// - two installations share one account: one's `kiln gc` leaves the other's running job alone;
// - four recovery commands at once on one dead job: one recovers, the others leave it alone; nothing is lost;
// - outputs that cannot be saved keep the machine (reported as billing) until `kiln down --force`.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type CloudHarness, cloudTestEnv, inLedger, metricLines, removeTestHomes, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-recovery-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  base = await cloudTestEnv({
    KILN_STOP_GRACE_MS: "3000",
  });
});
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});
afterAll(() => {
  removeTestHomes(dir);
});

function spec(name: string, extra = ""): string {
  const p = join(dir, `${name}.yaml`);
  writeFileSync(p, `name: ${name}\n${extra}budget: { max_usd: 5, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  return p;
}

async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...cloud?.env, ...extra }, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

/** Run a job whose driver SIGKILLs itself at `point`; returns its id (the machine is left as the driver left it). */
async function deadDriverJob(home: string, name: string, point: string): Promise<string> {
  const run = await kiln(home, ["run", spec(name), "--provider", "lambda"], { KILN_CRASH_AT: point });
  expect(run.code).toBe(1);
  return /started \S+ \((\S+)\)/.exec(run.out)![1]!;
}

/** Everything the ledger holds, for "nothing changed" comparisons. */
function snapshot(home: string): unknown {
  const l = Ledger.open(join(home, "ledger.db"));
  try {
    const tables = ["jobs", "attempts", "machines", "events", "artifacts", "job_locks"];
    return Object.fromEntries(tables.map((t) => [t, l.db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all()]));
  } finally {
    l.close();
  }
}

describe.skipIf(!sshdAvailable)("recovery safety (emulator + loopback sshd; skipped where sshd is missing)", () => {
  it("read-only commands change nothing; a run that had finished is recorded as finished by the recovery", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "20", FAKE_STEP_MS: "20" } });
    const home = join(dir, "k-readonly");
    // The driver dies after the artifacts were verified, before terminating: the training had finished.
    const id = await deadDriverJob(home, "finished", "before-terminate");
    const before = snapshot(home);
    const machines = () => cloud!.emu.inspect().map((i) => ({ id: i.id, status: i.status }));
    const live = machines();
    expect(live.filter((m) => m.status !== "terminated")).toHaveLength(1);
    const status = await kiln(home, ["status"]);
    expect(status.code).toBe(0);
    expect(status.err).toMatch(new RegExp(`\`kiln status --refresh\` would save the outputs of ${id} from \\S+ \\(active\\), then terminate it`));
    const dry = await kiln(home, ["gc", "--dry-run"]);
    expect(dry.err).toMatch(new RegExp(`would save the outputs of ${id}`));
    expect(snapshot(home)).toEqual(before);
    expect(machines()).toEqual(live);

    const gc = await kiln(home, ["gc"]);
    expect(gc.code).toBe(0);
    expect(gc.out).toMatch(new RegExp(`job ${id} had finished: recorded as finished, outputs verified`));
    expect(cloud.live()).toEqual([]);
    inLedger(home, (l) => {
      expect(l.getJob(id)!.state).toBe("succeeded");
      expect(l.listAttempts(id).map((a) => a.state)).toEqual(["succeeded"]);
      expect(l.listArtifacts(id).map((a) => a.path)).toContain("sae/sae.safetensors");
      expect(l.getJobLock(id)).toBeUndefined();
    });
  }, 120_000);

  it("two installations on one account: one's gc and status --refresh never touch the other's live job", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "400", FAKE_STEP_MS: "50" } });
    const homeA = join(dir, "k-inst-a");
    const homeB = join(dir, "k-inst-b");
    const run = await kiln(homeA, ["run", spec("inst-a"), "--provider", "lambda", "--detach"]);
    const id = /started inst-a \((\S+)\)/.exec(run.out)![1]!;
    const progress = join(homeA, "jobs", id, "progress.txt");
    await pollUntil(async () => (existsSync(progress) && /step \d+\/400/.test(readFileSync(progress, "utf8")) ? true : undefined), { what: "training", timeoutMs: 60_000, intervalMs: 100 });
    const gc = await kiln(homeB, ["gc"]);
    expect(gc.code).toBe(0);
    expect(gc.out).toMatch(/no orphaned Kiln machines of this installation/);
    expect(gc.out).toMatch(/1 Kiln machine\(s\) of other installations sharing this account left alone/);
    expect((await kiln(homeB, ["status", "--refresh"])).code).toBe(0);
    expect(cloud.live()).toHaveLength(1);
    const down = await kiln(homeA, ["down", id]);
    expect(down.out).toMatch(/state stopped/);
    expect(cloud.live()).toEqual([]);
  }, 120_000);

  it("four recovery commands at once on one dead job: one recovers it, the rest leave it alone, nothing is lost", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "200", FAKE_STEP_MS: "50" } });
    const home = join(dir, "k-race");
    const id = await deadDriverJob(home, "race", "during-training");
    const results = await Promise.all([kiln(home, ["status", "--refresh"]), kiln(home, ["gc"]), kiln(home, ["down", id]), kiln(home, ["status", "--refresh"])]);
    const said = results.map((r) => `${r.out}${r.err}`).join("\n");
    // Whoever lost the race said so (or found the job already recovered).
    expect(said).toMatch(new RegExp(`another Kiln process is recovering job ${id}|job ${id} is being recovered by another Kiln process|has no machine running`));
    // Whoever did not get the job's lock, then the rest: the job ends recovered exactly once.
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the machine to be gone", timeoutMs: 30_000, intervalMs: 100 });
    const retry = await kiln(home, ["status", "--refresh"]);
    expect(retry.code).toBe(0);
    inLedger(home, (l) => {
      expect(l.getJob(id)!.state).toBe("interrupted");
      expect(l.listEvents(id, { kind: "salvage" }).length + l.listEvents(id, { kind: "machine_state" }).filter((e) => e.reason?.startsWith("confirmed terminated by lambda (kiln down")).length).toBe(1);
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.getJobLock(id)).toBeUndefined();
    });
    // The checkpoint the run wrote is here, as verified: nothing was lost in the race.
    expect(existsSync(join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json"))).toBe(true);
  }, 120_000);

  it("outputs that cannot be saved keep the machine, reported as billing, until kiln down --force", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "400", FAKE_STEP_MS: "50" } });
    const home = join(dir, "k-kept");
    const id = await deadDriverJob(home, "kept", "during-training");
    // The machine's host key is no longer the pinned one: no Kiln command can get in to save the outputs.
    const pins = join(home, "known_hosts");
    writeFileSync(pins, readFileSync(pins, "utf8").replace(/ssh-ed25519 \S+/g, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T"));
    const refresh = await kiln(home, ["status", "--refresh"]);
    expect(refresh.err).toMatch(/warning: machine \S+ KEPT: its job's outputs could not be saved, and it may still be billing/);
    expect(cloud.live()).toHaveLength(1);
    inLedger(home, (l) => {
      expect(l.listEvents(id, { kind: "alert" }).map((e) => e.reason)).toEqual([expect.stringMatching(/not saved .* KEPT and may still be billing: `kiln down .* --force`/)]);
      expect(l.listMachines(id).map((m) => m.state)).not.toContain("terminated");
    });
    const forced = await kiln(home, ["down", id, "--force"]);
    expect(forced.code).toBe(0);
    expect(cloud.live()).toEqual([]);
  }, 120_000);
});

describe.skipIf(!sshdAvailable)("a machine the cloud takes away mid-run (emulator + loopback sshd)", () => {
  it("is noticed by asking the provider, not after minutes of failed SSH; with max_restarts 0 the job stops there, and `kiln run --resume` continues it on a new machine from its checkpoint", async () => {
    cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "120", FAKE_STEP_MS: "100" } });
    const home = join(dir, "k-taken");
    const run = await kiln(home, ["run", spec("taken", "resources: { max_restarts: 0 }\n"), "--provider", "lambda", "--detach"], { KILN_PROVIDER_POLL_MS: "500" });
    const id = /started taken \((\S+)\)/.exec(run.out)![1]!;
    // A checkpoint has reached this computer (the monitor pulls each one as soon as it is written).
    const ckpt = join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json");
    await pollUntil(async () => (existsSync(ckpt) && (JSON.parse(readFileSync(ckpt, "utf8")) as { step: number }).step >= 10 ? true : undefined), { what: "a saved checkpoint", timeoutMs: 60_000, intervalMs: 100 });
    const saved = (JSON.parse(readFileSync(ckpt, "utf8")) as { step: number }).step;
    // Behind Kiln's back, as a reclaim or an operator would: the instance goes (and its sshd with it).
    const [instance] = cloud.live();
    const { LambdaClient } = await import("../../src/providers/lambda/client.js");
    const client = new LambdaClient({ apiKey: cloud.emu.apiKey, baseUrl: cloud.emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
    await client.terminateInstances([instance!.id], new AbortController().signal);
    // SSH alone would give up after 10 minutes; the provider's answer ends it within a few polls.
    await pollUntil(async () => (inLedger(home, (l) => l.getJob(id)!.state) === "failed" ? true : undefined), { what: "the job to end", timeoutMs: 60_000, intervalMs: 200 });
    inLedger(home, (l) => {
      const [attempt] = l.listAttempts(id);
      expect(attempt).toMatchObject({ state: "lost", reason: expect.stringMatching(new RegExp(`lambda says ${instance!.id} is (terminated|terminating|not-found)`)) });
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.listEvents(id, { kind: "alert" })).toEqual([]);
      expect(l.listEvents(id, { kind: "recovery" }).map((e) => e.reason)).toEqual(["not recovering: max_restarts (0) reached"]);
      expect(l.getJob(id)!.ended_at).not.toBeNull();
    });
    expect(cloud.live()).toEqual([]);
    // Resume: a new attempt on a new machine, from the checkpoint saved here; the job keeps its id.
    const resumed = await kiln(home, ["run", "--resume", id]);
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    expect(resumed.out).toMatch(new RegExp(`resumed taken \\(${id}\\) on a new machine`));
    inLedger(home, (l) => {
      expect(l.getJob(id)!.state).toBe("succeeded");
      expect(l.listAttempts(id).map((a) => [a.n, a.state, a.step])).toEqual([[1, "lost", "teardown"], [2, "succeeded", "teardown"]]);
      expect(l.listEvents(id, { kind: "restored" })).toHaveLength(1);
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated", "terminated"]);
    });
    const starts = metricLines(home, id).filter((m) => m["kind"] === "start");
    // The second run started from the checkpoint that was saved before the machine went, not from step 0.
    expect(starts.map((m) => [m["resumed"], m["step"]])).toEqual([[false, 0], [true, expect.any(Number)]]);
    expect(starts[1]!["step"] as number).toBeGreaterThanOrEqual(saved);
    expect(metricLines(home, id).filter((m) => m["kind"] === "done").at(-1)).toMatchObject({ step: 120, reason: "completed" });
    expect(cloud.live()).toEqual([]);
    expect(cloud.emu.inspect()).toHaveLength(2);
  }, 180_000);
});

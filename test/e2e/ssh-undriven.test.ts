// Provider-ssh jobs after their driver is gone, against a real loopback sshd: the run on the host is
// persistent, so `kiln logs -f` follows it over SSH (surviving dropped connections with no gaps and no
// duplicates), and reconciliation (`kiln status`) leaves a live run alone, then closes the job once the
// run ends — outputs pulled and verified, the host's registration removed, the host itself untouched.
// The jobs are set up as a dead driver leaves them (ledger rows, cloud.json, marker, persistent run),
// with small shell runs instead of training, so each case takes seconds.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { nullLogger } from "../../src/base/logger.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { kilnPaths } from "../../src/core/home.js";
import { newJobId } from "../../src/core/job/layout.js";
import { writeCloudFile } from "../../src/core/lifecycle/cloud-file.js";
import { hostProvider } from "../../src/core/lifecycle/providers.js";
import { remotePaths } from "../../src/core/lifecycle/remote-job.js";
import { UNDRIVEN_EVENT } from "../../src/core/reconcile/index.js";
import { startRun } from "../../src/remote/session/run.js";
import { SshConnection } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { type TestSshd, sshdAvailable, startSshd } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

let home: string;
let env: NodeJS.ProcessEnv;
let sshd: TestSshd;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "kiln-undriven-"));
});
// A ledger per test: an earlier test's job names a host (sshd) that is gone.
let n = 0;
beforeEach(() => {
  env = { ...process.env, KILN_HOME: join(home, `kiln-${++n}`), KILN_FOLLOW_INTERVAL_MS: "200", KILN_TERMINATE_POLL_MS: "200", KILN_HOST_CONNECT_TIMEOUT_MS: "3000" };
});
afterEach(async () => {
  await sshd?.cleanup();
});
afterAll(() => rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));

const ledger = () => Ledger.open(join(env["KILN_HOME"]!, "ledger.db"));
const markers = () => (existsSync(join(sshd.home, ".kiln", "machines")) ? readdirSync(join(sshd.home, ".kiln", "machines")) : []);

async function kiln(...argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io, { env, cwd: home });
  return { code, out: io.stdout, err: io.stderr };
}

/**
 * A provider-ssh job as a driver leaves it when it dies after starting the run: job running, machine
 * registered on the host, `script` running there under setsid in the job directory (cwd `job/`).
 */
async function undrivenJob(name: string, script: string | ((localJobDir: string) => string) | undefined): Promise<{ id: string; job: string; run: string }> {
  const id = newJobId();
  const paths = kilnPaths(env);
  const jobDir = join(paths.jobs, id);
  mkdirSync(jobDir, { recursive: true });
  const t = sshd.target();
  writeCloudFile(jobDir, {
    version: 1,
    jobId: id,
    jobName: name,
    provider: "ssh",
    ssh: { host: t.host, port: t.port, user: t.user, cleanup: false },
    sim: false,
    specDir: home,
    offers: [{ provider: "ssh", instanceType: "your-host", gpu: "your GPU", gpuCount: 1, vramGb: 0, region: t.host, pricePerHour: 0, spot: false, priceSource: "live", priceDate: "2026-11-28" }],
    maxOffers: 1,
    keyPath: t.privateKeyPath,
    budget: { maxUsd: 1, alertFractions: [] },
    pollMs: 1000,
    teardownReserveMs: 1000,
    bootTimeoutMs: 30_000,
    terminate: { pollMs: 200, timeoutMs: 30_000 },
    stopGraceMs: 2_000,
    watchdogTerminate: false,
  });
  const provider = hostProvider("ssh", t, { privateKey: t.privateKey, knownHostsFile: paths.knownHosts, logger: nullLogger });
  const l = ledger();
  try {
    l.createJob({ id, name, kind: "sae-pii", specYaml: `name: ${name}\n`, jobDir });
    l.transitionJob(id, "running", "driving on ssh");
    const attempt = l.startAttempt(id, "ssh");
    const row = l.recordMachineIntent({ intentId: `i-${id}`, jobId: id, attemptId: attempt.id, provider: "ssh", offer: { gpu: "your GPU" }, pricePerHour: 0 });
    const m = await provider.launch({ intentId: `i-${id}`, offer: { provider: "ssh", instanceType: "your-host", gpu: "your GPU", gpuCount: 1, vramGb: 0, region: t.host, pricePerHour: 0, spot: false, available: true, priceSource: "live", priceDate: "2026-11-28" } }, AbortSignal.timeout(30_000));
    l.markMachineLaunched(row.id, m.id, m.providerState);
    // A dead driver: no process owns the job (supervisor_pid null), so nothing is alive to drive it.
  } finally {
    l.close();
    await provider.close();
  }
  const rp = remotePaths(sshd.home, id);
  mkdirSync(join(rp.job, "logs"), { recursive: true });
  mkdirSync(join(rp.job, "outputs", "sae"), { recursive: true });
  if (script !== undefined) {
    const conn = await SshConnection.open({ host: t.host, port: t.port, user: t.user, privateKey: t.privateKey }, { knownHosts: new KnownHosts(paths.knownHosts), timeoutMs: 30_000 });
    try {
      await startRun(conn, { name: `kiln-${id}`, dir: rp.run, argv: ["sh", "-c", typeof script === "string" ? script : script(jobDir)], cwd: rp.job, method: "setsid" });
    } finally {
      conn.close();
    }
  }
  return { id, job: rp.job, run: rp.run };
}

/** Writes `n` log lines (100+ bytes each) and `n` metrics lines, ~10 ms apart, then exits with `code`. */
const lines = (n: number) =>
  `i=0; while [ $i -lt ${n} ]; do printf 'line %d %0100d\\n' $i $i >> logs/train.log; printf '{"kind": "train", "step": %d}\\n' $i >> outputs/sae/metrics.jsonl; i=$((i+1)); sleep 0.01; done`;
const writer = (n: number, code = 0) => `${lines(n)}; echo done > outputs/sae/final.txt; exit ${code}`;

describe.skipIf(!sshdAvailable)("provider-ssh jobs without their driver (loopback sshd)", () => {
  it("`kiln logs -f` follows the run on the host through dropped connections: exactly the host's file", async () => {
    sshd = await startSshd();
    const j = await undrivenJob("logs-drop", writer(400));
    const io = captureIo();
    const following = main(["logs", j.id, "-f"], io, { env, cwd: home });
    // Cut every SSH connection twice while output is streaming.
    let dropped = 0;
    for (const bytes of [3_000, 15_000]) {
      await pollUntil(async () => (io.stdout.length >= bytes ? true : undefined), { what: `${bytes} bytes of followed log`, timeoutMs: 60_000, intervalMs: 20 });
      dropped += await sshd.dropConnections();
    }
    expect(await following).toBe(0);
    expect(dropped).toBeGreaterThan(0);
    const remote = readFileSync(join(j.job, "logs", "train.log"), "utf8");
    expect(remote.split("\n").length).toBe(401);
    // No gap, no duplicate: one header, then the host's file byte for byte.
    expect(io.stdout).toBe(`==> train.log <==\n${remote}`);
    expect(io.stderr).toMatch(/the run on .* exited with code 0/);
    // The metrics, read once the run is over.
    const m = await kiln("logs", j.id, "--metrics");
    expect(m.code).toBe(0);
    expect(m.out).toBe(`==> sae/metrics.jsonl <==\n${readFileSync(join(j.job, "outputs", "sae", "metrics.jsonl"), "utf8")}`);
  }, 120_000);

  it("`kiln logs -f` ends with the pulled copy when the host's job directory goes at the end (cleanup)", async () => {
    sshd = await startSshd();
    // As a driver with cleanup does at the end: copy the logs here, then remove them on the host.
    const j = await undrivenJob("logs-cleanup", (local) => `${lines(50)}; while [ ! -f release ]; do sleep 0.05; done; printf 'tail %0200d\\n' 1 >> logs/train.log; mkdir -p '${local}/logs'; cp logs/train.log '${local}/logs/'; rm -rf logs`);
    const io = captureIo();
    const following = main(["logs", j.id, "-f"], io, { env, cwd: home });
    await pollUntil(async () => (io.stdout.includes("line 49 ") ? true : undefined), { what: "the first 50 lines", timeoutMs: 30_000, intervalMs: 20 });
    writeFileSync(join(j.job, "release"), "");
    expect(await following).toBe(0);
    const copy = readFileSync(join(kilnPaths(env).jobs, j.id, "logs", "train.log"), "utf8");
    expect(copy).toMatch(/tail 0+1\n$/);
    expect(io.stdout).toBe(`==> train.log <==\n${copy}`);
  }, 60_000);

  it("reconciliation leaves a live run alone, then closes the job with verified outputs once it ends", async () => {
    sshd = await startSshd();
    // This run waits for the test to release it, so it is surely running at the first reconciliation.
    const ok = await undrivenJob("rec-ok", `while [ ! -f release ]; do sleep 0.05; done; ${writer(50)}`);
    const bad = await undrivenJob("rec-bad", writer(5, 3));
    const never = await undrivenJob("rec-never", undefined);
    await pollUntil(async () => (existsSync(join(bad.run, "exit_code")) ? true : undefined), { what: "the failing run to end", timeoutMs: 30_000, intervalMs: 50 });
    // Plain status is read-only: it says what --refresh would do and changes nothing.
    const look = await kiln("status");
    expect(look.code).toBe(0);
    expect(look.err).toMatch(new RegExp(`\`kiln status --refresh\` would look at ${bad.id}'s run on `));
    const peek = ledger();
    try {
      expect(peek.getJob(bad.id)!.state).toBe("running");
    } finally {
      peek.close();
    }
    const first = await kiln("status", "--refresh");
    expect(first.code).toBe(0);
    expect(first.err).not.toMatch(/warning/);
    let l = ledger();
    try {
      // Still running on the host: left running, with a note saying how to follow or stop it.
      expect(l.getJob(ok.id)!.state).toBe("running");
      expect(l.listEvents(ok.id, { kind: UNDRIVEN_EVENT }).map((e) => e.reason)).toEqual([expect.stringMatching(/run goes on on .*kiln logs -f/)]);
      expect(l.listMachines(ok.id).map((m) => m.state)).toEqual(["registered"]);
      // Ended with code 3: outputs pulled and verified all the same, the job failed, unregistered.
      expect(l.getJob(bad.id)!.state).toBe("failed");
      expect(l.listEvents(bad.id, { kind: "job_state" }).at(-1)!.reason).toMatch(/exited with code 3/);
      expect(l.listArtifacts(bad.id).every((a) => a.verified_at !== null)).toBe(true);
      expect(l.listMachines(bad.id).map((m) => m.state)).toEqual(["terminated"]);
      // Never started: nothing to pull; unregistered and interrupted (resumable).
      expect(l.getJob(never.id)!.state).toBe("interrupted");
      expect(l.listMachines(never.id).map((m) => m.state)).toEqual(["terminated"]);
    } finally {
      l.close();
    }
    expect(markers()).toEqual([`kiln-i-${ok.id}.json`]);
    writeFileSync(join(ok.job, "release"), "");
    await pollUntil(async () => (existsSync(join(ok.run, "exit_code")) ? true : undefined), { what: "the run to end", timeoutMs: 60_000, intervalMs: 100 });
    const second = await kiln("status", ok.id, "--refresh");
    expect(second.err).not.toMatch(/warning/);
    expect(second.out).toMatch(/succeeded/);
    l = ledger();
    try {
      expect(l.getJob(ok.id)!.state).toBe("succeeded");
      expect(l.listAttempts(ok.id).map((a) => a.state)).toEqual(["succeeded"]);
      const arts = l.listArtifacts(ok.id);
      expect(arts.map((a) => a.path).sort()).toEqual(["sae/final.txt", "sae/metrics.jsonl"]);
      expect(arts.every((a) => a.verified_at !== null)).toBe(true);
      expect(l.listMachines(ok.id).map((m) => m.state)).toEqual(["terminated"]);
      // One note, not one per reconciliation.
      expect(l.listEvents(ok.id, { kind: UNDRIVEN_EVENT })).toHaveLength(1);
    } finally {
      l.close();
    }
    const local = join(env["KILN_HOME"]!, "jobs", ok.id, "outputs", "sae", "metrics.jsonl");
    expect(readFileSync(local, "utf8")).toBe(readFileSync(join(ok.job, "outputs", "sae", "metrics.jsonl"), "utf8"));
    // The host is the user's: only Kiln's registration went; the job directory stays (no cleanup asked).
    expect(markers()).toEqual([]);
    expect(existsSync(join(ok.job, "logs", "train.log"))).toBe(true);
  }, 120_000);

  it("`kiln down` stops the run on the host, refuses to unregister while the outputs are unverified unless --force", async () => {
    sshd = await startSshd();
    const ok = await undrivenJob("down-ok", `${writer(20)}; while :; do sleep 0.05; done`);
    // Nothing under outputs/ ever: there is no manifest to verify.
    const empty = await undrivenJob("down-empty", "while :; do sleep 0.05; done");
    await pollUntil(async () => (existsSync(join(ok.job, "outputs", "sae", "final.txt")) ? true : undefined), { what: "the outputs", timeoutMs: 30_000, intervalMs: 50 });
    const down = await kiln("down", ok.id);
    expect(down.err).toBe("");
    expect(down.code).toBe(0);
    expect(down.out).toMatch(/down: 1 machine\(s\) terminated and confirmed, 2 artifact file\(s\) verified; state interrupted/);
    // The local copy is the host's outputs, byte for byte.
    expect(readFileSync(join(env["KILN_HOME"]!, "jobs", ok.id, "outputs", "sae", "metrics.jsonl"), "utf8")).toBe(readFileSync(join(ok.job, "outputs", "sae", "metrics.jsonl"), "utf8"));
    expect(markers()).toEqual([`kiln-i-${empty.id}.json`]);

    const refused = await kiln("down", empty.id);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/artifact directory is empty/);
    expect(markers()).toEqual([`kiln-i-${empty.id}.json`]);
    const forced = await kiln("down", empty.id, "--force");
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/artifacts NOT verified/);
    expect(markers()).toEqual([]);
    const l = ledger();
    try {
      expect(l.listEvents(empty.id, { kind: "warning" }).map((e) => e.reason)).toEqual([expect.stringMatching(/--force/)]);
      expect(l.listMachines(empty.id).map((m) => m.state)).toEqual(["terminated"]);
    } finally {
      l.close();
    }
    // Both runs are stopped on the host, whose files stay.
    for (const j of [ok, empty]) {
      const pid = Number(readFileSync(join(j.run, "pgid"), "utf8"));
      expect(() => process.kill(-pid, 0)).toThrow();
    }
    expect(existsSync(join(ok.job, "logs", "train.log"))).toBe(true);
  }, 120_000);

  it("a host that is gone: reconciliation reports it and changes nothing; `kiln down --force` closes the job", async () => {
    sshd = await startSshd();
    const j = await undrivenJob("gone", "while :; do sleep 0.05; done");
    try {
      await goneHost(j);
    } finally {
      // The run was never reachable through Kiln: stop it here, as the user would on the host.
      process.kill(-Number(readFileSync(join(j.run, "pgid"), "utf8")), "SIGKILL");
    }
  }, 240_000);
});

/** `kiln status` and `kiln down` once the host of an undriven job is gone. */
async function goneHost(j: { id: string }): Promise<void> {
  await sshd.stop();
  const status = await kiln("status", "--refresh");
  expect(status.code).toBe(0);
  expect(status.err).toMatch(new RegExp(`warning: reconciliation: job ${j.id} on .*:${sshd.port}`));
  const refused = await kiln("down", j.id);
  expect(refused.code).not.toBe(0);
  const forced = await kiln("down", j.id, "--force");
  expect(forced.code).toBe(0);
  expect(forced.out).toMatch(/1 machine\(s\) terminated and confirmed \(artifacts NOT verified\); state interrupted/);
  const l = ledger();
  try {
    expect(l.listMachines(j.id).map((m) => m.state)).toEqual(["terminated"]);
    expect(l.listEvents(j.id, { kind: "warning" }).map((e) => e.reason)).toEqual([expect.stringMatching(/unreachable; closed without stopping the run/)]);
  } finally {
    l.close();
  }
}

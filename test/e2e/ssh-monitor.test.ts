// The driver's monitor against a real loopback sshd: outputs and step logs are pulled while the run goes
// on, at `artifacts.sync_interval` — not before it has passed. Each case is a short shell run.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nullLogger } from "../../src/base/logger.js";
import { monitorRun } from "../../src/core/lifecycle/monitor.js";
import { remotePaths } from "../../src/core/lifecycle/remote-job.js";
import { startRun } from "../../src/remote/session/run.js";
import { SshConnection } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { type TestSshd, sshdAvailable, startSshd } from "../../src/remote/ssh/loopback-sshd.js";
import type { Provider } from "../../src/providers/provider.js";
import { Ledger } from "../../src/store/index.js";

let home: string;
let sshd: TestSshd;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "kiln-monitor-"));
});
afterEach(async () => {
  await sshd?.cleanup();
});
afterAll(() => rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));

/** Run a 3-second writer on the host and monitor it with the given sync interval; returns the local dir. */
async function monitored(name: string, syncIntervalMs: number) {
  const local = join(home, name);
  mkdirSync(local, { recursive: true });
  const ledger = Ledger.open(join(local, "ledger.db"));
  const conn = await SshConnection.open({ host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey }, { knownHosts: new KnownHosts(join(local, "known_hosts")), timeoutMs: 30_000 });
  try {
    ledger.createJob({ id: name, name, kind: "sae-pii", specYaml: "", jobDir: local });
    const attempt = ledger.startAttempt(name, "ssh");
    const row = ledger.recordMachineIntent({ intentId: `i-${name}`, jobId: name, attemptId: attempt.id, provider: "ssh", offer: {}, pricePerHour: 0 });
    ledger.markMachineLaunched(row.id, `ssh-i-${name}`, "registered");
    const rp = remotePaths(sshd.home, name);
    mkdirSync(join(rp.job, "outputs", "sae"), { recursive: true });
    mkdirSync(join(rp.job, "logs"), { recursive: true });
    const script = `i=0; while [ $i -lt 30 ]; do echo "line $i" >> logs/train.log; printf '{"kind": "train", "step": %d}\\n' $i >> outputs/sae/metrics.jsonl; i=$((i+1)); sleep 0.1; done`;
    await startRun(conn, { name: `kiln-${name}`, dir: rp.run, argv: ["sh", "-c", script], cwd: rp.job, method: "setsid" });
    const outcome = await monitorRun({
      conn,
      ledger,
      jobId: name,
      machineRowId: row.id,
      runDir: rp.run,
      remoteOutputs: `${rp.job}/outputs`,
      localOutputs: join(local, "outputs"),
      logs: { remote: `${rp.job}/logs`, local: join(local, "logs") },
      progressFile: join(local, "progress.txt"),
      budget: { maxUsd: 1, alertFractions: [] },
      pollMs: 100,
      syncIntervalMs,
      teardownReserveMs: 0,
      signal: AbortSignal.timeout(60_000),
      logger: nullLogger,
    });
    expect(outcome).toEqual({ kind: "exited", code: 0 });
    return { local, remote: rp.job };
  } finally {
    conn.close();
    ledger.close();
  }
}

describe.skipIf(!sshdAvailable)("monitor: artifact sync interval (loopback sshd)", () => {
  it("pulls outputs and step logs during the run at the sync interval", async () => {
    sshd = await startSshd();
    const { local, remote } = await monitored("often", 500);
    // Pulled mid-run: a non-empty prefix of the host's files (the final pull is the driver's, after the run).
    for (const f of [join("outputs", "sae", "metrics.jsonl"), join("logs", "train.log")]) {
      const mine = readFileSync(join(local, f), "utf8");
      expect(mine.length).toBeGreaterThan(0);
      expect(readFileSync(join(remote, f), "utf8").startsWith(mine)).toBe(true);
    }
  }, 60_000);

  it("pulls nothing before the sync interval has passed", async () => {
    sshd = await startSshd();
    const { local } = await monitored("rarely", 600_000);
    expect(existsSync(join(local, "outputs", "sae", "metrics.jsonl"))).toBe(false);
    expect(existsSync(join(local, "logs", "train.log"))).toBe(false);
  }, 60_000);
});

describe.skipIf(!sshdAvailable)("monitor: a machine the provider calls reclaimed while it still stands (loopback sshd)", () => {
  // GCE shows a preempting VM as STOPPING for its 30 s notice; the run, told by the notice watcher, checkpoints
  // and exits in that window. The monitor must keep reading it then, or the final checkpoint stays behind.
  async function reclaimedWhileStanding(name: string, noticeWindowMs: number | undefined) {
    const local = join(home, name);
    mkdirSync(local, { recursive: true });
    const ledger = Ledger.open(join(local, "ledger.db"));
    const conn = await SshConnection.open({ host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey }, { knownHosts: new KnownHosts(join(local, "known_hosts")), timeoutMs: 30_000 });
    try {
      ledger.createJob({ id: name, name, kind: "sae-pii", specYaml: "", jobDir: local });
      const attempt = ledger.startAttempt(name, "gcp");
      const row = ledger.recordMachineIntent({ intentId: `i-${name}`, jobId: name, attemptId: attempt.id, provider: "gcp", offer: {}, pricePerHour: 1 });
      ledger.markMachineLaunched(row.id, `vm-${name}`, "RUNNING");
      const rp = remotePaths(sshd.home, name);
      mkdirSync(join(rp.job, "outputs", "sae"), { recursive: true });
      mkdirSync(join(rp.base, "notice"), { recursive: true });
      const notice = join(rp.base, "notice", "reclaim-notice");
      // The watcher's notice, then a second of work, the final checkpoint, and a clean exit.
      const script = `echo "reclaim notice at now" > ${notice}; sleep 1; printf '{"kind": "checkpoint_saved", "step": 7}\\n' >> outputs/sae/metrics.jsonl; echo final > outputs/sae/final.ckpt`;
      await startRun(conn, { name: `kiln-${name}`, dir: rp.run, argv: ["sh", "-c", script], cwd: rp.job, method: "setsid" });
      const provider = {
        name: "gcp",
        describe: async (id: string) => ({ id, state: "stopping", providerState: "STOPPING", reclaimed: { reason: "preempted" } }),
      } as unknown as Provider;
      const outcome = await monitorRun({
        conn,
        ledger,
        jobId: name,
        machineRowId: row.id,
        runDir: rp.run,
        remoteOutputs: `${rp.job}/outputs`,
        localOutputs: join(local, "outputs"),
        progressFile: join(local, "progress.txt"),
        budget: { maxUsd: 100, alertFractions: [] },
        pollMs: 100,
        syncIntervalMs: 600_000,
        teardownReserveMs: 0,
        provider: { provider, id: `vm-${name}`, everyMs: 1 },
        noticeFile: notice,
        ...(noticeWindowMs !== undefined && { noticeWindowMs }),
        signal: AbortSignal.timeout(60_000),
        logger: nullLogger,
      });
      return { outcome, local };
    } finally {
      conn.close();
      ledger.close();
    }
  }

  it("inside the notice window: the run's exit after its checkpoint is seen, and the checkpoint was pulled", async () => {
    sshd = await startSshd();
    const { outcome, local } = await reclaimedWhileStanding("window", 30_000);
    expect(outcome).toEqual({ kind: "preempted", reason: "reclaim notice at now: the run checkpointed and exited before the reclaim" });
    expect(readFileSync(join(local, "outputs", "sae", "final.ckpt"), "utf8")).toBe("final\n");
  }, 60_000);

  it("with no notice window (a cloud that gives none) the machine is written off at once", async () => {
    sshd = await startSshd();
    const { outcome } = await reclaimedWhileStanding("nowindow", undefined);
    expect(outcome).toMatchObject({ kind: "preempted", gone: true });
  }, 60_000);
});


/**
 * Reconciling provider-ssh jobs whose driver is gone. The machine is the user's host: Kiln never powers
 * it off or wipes it; "terminate" only removes Kiln's registration marker there. The run on the host is
 * persistent (tmux / setsid), so it may well have outlived the driver, and what happens depends on it:
 *
 * - still running: left alone (the point of a persistent run). The job stays running in the ledger with
 *   a note that nobody drives it; `kiln logs -f` follows it and `kiln down` stops and verifies it. The next
 *   reconciliation after it ends closes it.
 * - ended (exit code written) or lost: the watchdog is stopped, the outputs are pulled and verified by
 *   manifest, the machine is unregistered and the job ends succeeded (exit 0) or failed. If the outputs
 *   cannot be verified, the registration is kept and the job left as it is, to be retried next time.
 * - never started (the driver died before starting it): unregistered; the job is interrupted.
 * - host unreachable (10 s): nothing changes; the error is reported (`kiln down --force` closes the job).
 */
import { errorMessage } from "../../base/errors.js";
import type { MachineRecord } from "../../providers/provider.js";
import { providers } from "../../providers/registry.js";
import { SshConnection } from "../../remote/ssh/connection.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import { KnownHosts } from "../../remote/ssh/known-hosts.js";
import { runStatus } from "../../remote/session/run.js";
import { assertSafeToTearDown } from "../../remote/sync/verify.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { type JobRecord, type MachineLedgerRecord, isTerminal } from "../../store/index.js";
import { jobLayout } from "../job/layout.js";
import { tryLockJob } from "../jobs/lock.js";
import { type CloudFile, readCloudFile } from "../lifecycle/cloud-file.js";
import { NEVER_LAUNCHED } from "../lifecycle/launch.js";
import { hostProvider } from "../lifecycle/providers.js";
import { remoteHome, remotePaths } from "../lifecycle/remote-job.js";
import { terminateAndConfirm } from "../lifecycle/teardown.js";
import { stopWatchdog } from "../watchdog/index.js";
import type { ReconcileContext } from "./index.js";
import { type ReconcileReport, closeDeadJob, isJobAlive, isOpenMachine } from "./reconcile.js";
import { terminateSettings } from "./settings.js";

const isHost = (name: string): boolean => providers().some((d) => d.name === name && d.kind === "host");

/** Event kind of the "nobody drives this run" note (written once per job). */
export const UNDRIVEN_EVENT = "undriven_run";

/** Every ssh job with a registered machine whose driver is gone, each against its own host. */
export async function reconcileSshJobs(ctx: ReconcileContext, r: ReconcileReport): Promise<void> {
  for (const job of ctx.ledger.listJobs()) {
    if (isJobAlive(job)) continue;
    const rows = ctx.ledger.listMachines(job.id).filter((m) => isHost(m.provider) && isOpenMachine(m));
    if (rows.length === 0) continue;
    let c: CloudFile | undefined;
    try {
      c = readCloudFile(job.job_dir);
    } catch (e) {
      r.errors.push(`job ${job.id}: ${errorMessage(e)}`);
      continue;
    }
    if (!c?.ssh || c.sim) continue;
    if (ctx.mode === "report") {
      r.wouldDo.push(`look at ${job.id}'s run on ${c.ssh.user}@${c.ssh.host}:${c.ssh.port} and, if it ended, pull its outputs and close it`);
      continue;
    }
    const lock = tryLockJob(ctx.ledger, job.id, ctx.holder);
    if (!lock.ok) {
      r.busy.push(`${job.id}: ${lock.why}`);
      continue;
    }
    try {
      await reconcileSshJob(ctx, job, c as CloudFile & { ssh: NonNullable<CloudFile["ssh"]> }, rows, r);
    } catch (e) {
      r.errors.push(`job ${job.id} on ${c.ssh.user}@${c.ssh.host}:${c.ssh.port}: ${errorMessage(e)}`);
    } finally {
      lock.release();
    }
  }
}

async function reconcileSshJob(ctx: ReconcileContext, job: JobRecord, c: CloudFile & { ssh: NonNullable<CloudFile["ssh"]> }, rows: MachineLedgerRecord[], r: ReconcileReport): Promise<void> {
  const { ledger } = ctx;
  const key = privateKeyFor(ctx.paths.keys, c.keyPath, c.specDir);
  const provider = hostProvider(c.provider, c.ssh, { privateKey: key.privateKey, knownHostsFile: ctx.paths.knownHosts, logger: ctx.logger });
  // Pinned by [host]:port, as the driver pinned it: a changed host key stops here (host-key-changed).
  const conn = await SshConnection.open({ host: c.ssh.host, port: c.ssh.port, user: c.ssh.user, privateKey: key.privateKey }, { knownHosts: new KnownHosts(ctx.paths.knownHosts), timeoutMs: 10_000, logger: ctx.logger, signal: ctx.signal });
  try {
    // Registered machines: adopt an intent whose marker exists; one without a marker never launched.
    const registered = await provider.listMachines(ctx.signal);
    const live: { row: MachineLedgerRecord; rec: MachineRecord }[] = [];
    for (const row of rows) {
      const rec = registered.find((m) => (row.provider_id !== null ? m.id === row.provider_id : m.intentId === row.intent_id));
      if (!rec) {
        if (row.provider_id === null) {
          ledger.setMachineState(row.id, NEVER_LAUNCHED, `no Kiln marker for kiln-${row.intent_id} on the host: the registration never happened`);
          r.neverLaunched.push(row.intent_id);
        } else {
          ledger.markMachineTerminated(row.id, "its registration on the host is gone (closed at reconciliation)");
          r.closed.push(row.provider_id);
        }
        continue;
      }
      if (row.provider_id === null) {
        ledger.markMachineLaunched(row.id, rec.id, rec.providerState, row.created_at);
        r.adopted.push(rec.id);
      }
      live.push({ row: ledger.getMachine(row.id)!, rec });
    }
    const rp = remotePaths(await remoteHome(conn), job.id);
    const run = await runStatus(conn, rp.run);
    const where = `${c.ssh.user}@${c.ssh.host}:${c.ssh.port}`;
    if (run.state === "running") {
      if (!isTerminal(job.state) && ledger.listEvents(job.id, { kind: UNDRIVEN_EVENT }).length === 0) {
        ledger.addEvent({ jobId: job.id, kind: UNDRIVEN_EVENT, reason: `the driver is gone but the run goes on on ${where} (pid ${run.pid}); \`kiln logs -f ${job.id}\` follows it, \`kiln down ${job.id}\` stops it and pulls its outputs` });
      }
      r.runningOnHost.push(job.id);
      return;
    }
    const unregister = async (reason: string) => {
      for (const { row } of live) await terminateAndConfirm(provider, ledger, row, reason, { ...terminateSettings(ctx.env), signal: ctx.signal, logger: ctx.logger });
      for (const { rec } of live) r.terminated.push(rec.id);
    };
    if (run.state === "absent") {
      await unregister("its driver died before the run started; the host is left as it is");
      closeDeadJob(ledger, job.id, r);
      return;
    }
    // The run ended while nobody watched: its outputs are the job's result once verified here.
    await stopWatchdog(conn, rp.watchdog).catch(() => undefined);
    const safe = await assertSafeToTearDown({ conn, remoteDir: `${rp.job}/outputs`, localDir: jobLayout(ctx.paths.jobs, job.id).outputs, pullCommand: `kiln down ${job.id}`, signal: ctx.signal, logger: ctx.logger });
    for (const e of safe.manifest) ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: true });
    if (c.ssh.cleanup) {
      await runChecked(conn, ["rm", "-rf", "--", rp.base], { what: "remove the job directory on the host" });
      ledger.addEvent({ jobId: job.id, kind: "cleanup", reason: `removed ${rp.base} on ${c.ssh.host}` });
    }
    const ok = run.state === "exited" && run.code === 0;
    const reason = ok
      ? `the run finished on ${where} after its driver was gone; ${safe.verified} artifacts pulled and verified at reconciliation`
      : `${run.state === "exited" ? `the run exited with code ${run.code}` : "the run was lost"} on ${where} after its driver was gone; ${safe.verified} artifacts pulled and verified`;
    await unregister(reason);
    if (!isTerminal(ledger.getJob(job.id)!.state)) {
      for (const a of ledger.listAttempts(job.id)) if (a.state === "running") ledger.endAttempt(a.id, ok ? "succeeded" : "failed", reason);
      ledger.transitionJob(job.id, ok ? "succeeded" : "failed", reason);
    }
    r.finishedOnHost.push(job.id);
  } finally {
    conn.close();
    await provider.close();
  }
}

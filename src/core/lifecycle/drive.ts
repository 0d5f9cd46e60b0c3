/**
 * The cloud driver: one job's whole lifecycle, run by a detached process (./driver-main.ts) so it has
 * the job's KILN_JOB_ID (liveness) and survives the terminal. Every step is in the ledger before it acts:
 * plan → launch with failover → running + IP → SSH → verify → ship → run (+ watchdog) → monitor with the
 * budget cap → pull and verify artifacts → terminate → confirm → job closed. Any failure after launch
 * still pulls what it can and terminates; the machine is never left running by a driver that is alive.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { Provider } from "../../providers/provider.js";
import { requireHostPythonReady } from "../../remote/setup/index.js";
import { saveMachineAccess } from "../../remote/ssh/access.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import type { SshConnection } from "../../remote/ssh/connection.js";
import { stopRun } from "../../remote/session/run.js";
import { assertSafeToTearDown } from "../../remote/sync/verify.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import type { JobState, Ledger, MachineLedgerRecord } from "../../store/index.js";
import { kilnPaths } from "../home.js";
import { jobLayout } from "../job/layout.js";
import { loadJobSpec } from "../spec/index.js";
import { needFromSpec, requireMachineReady, verifyMachine } from "../verify/index.js";
import { startWatchdog, stopWatchdog } from "../watchdog/index.js";
import { type CloudFile, type CloudOffer, readCloudFile } from "./cloud-file.js";
import { writeRemoteReport } from "./report.js";
import type { Step } from "../job/run-file.js";
import { crashPoint } from "./crash.js";
import { tryLockJob } from "../jobs/lock.js";
import { failureTable, launchWithFailover } from "./launch.js";
import { connectMachine, waitUntilRunning } from "./machine.js";
import { type RunOutcome, monitorRun, progressText, readProgress } from "./monitor.js";
import { machineCost } from "../cost/index.js";
import { hostProvider, requireCloud } from "./providers.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { shellQuote } from "../../remote/exec.js";
import type { KilnPaths } from "../home.js";
import { readPreparedJob, stepsOnMachine } from "./prepare.js";
import { type RemotePaths, remoteHome, remotePaths, setupJobPython, shipBundle, startJob } from "./remote-job.js";
import { terminateAndConfirm } from "./teardown.js";
import { KilnError } from "../../base/errors.js";
import type { EndBilling } from "../../providers/descriptor.js";
import { providerNamed } from "../../providers/registry.js";
import { Ledger as LedgerClass } from "../../store/index.js";

/**
 * The name Kiln's key is registered under: one per key, so two computers (or two KILN_HOMEs) sharing
 * a cloud account never collide on a name that holds a different key.
 */
export const sshKeyNameFor = (publicKey: string): string => `kiln-${createHash("sha256").update(publicKey.trim().split(/\s+/).slice(0, 2).join(" ")).digest("hex").slice(0, 12)}`;

export interface DriveOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
  /** Milestones (ms since the driver started), for the overhead bench. */
  onMilestone?: (name: string, ms: number) => void;
}

interface Cloud {
  provider: Provider;
  /** An emulator on loopback: its machines are this computer. */
  emulated: boolean;
  /** The watchdog's way to end billing (a cloud account with a terminate credential; none for a host). */
  endBilling?: (id: string) => EndBilling;
  consoleUrl?: string;
  /** A simulated cloud's own billing, kept in the job dir for comparison with the ledger. */
  billed?: () => unknown;
  close(): Promise<void>;
}

async function openCloud(c: CloudFile, o: DriveOptions, paths: KilnPaths, privateKey: Buffer): Promise<Cloud> {
  const d = providerNamed(c.provider);
  const consoleUrl = d.consoleUrl;
  if (d.kind === "host") {
    if (!c.ssh) throw new KilnError("cloud_file", `provider ${c.provider} without its host in cloud.json`);
    const provider = hostProvider(c.provider, c.ssh, { privateKey, knownHostsFile: paths.knownHosts, logger: o.logger });
    // No API, no key on the machine: the watchdog never terminates a host the user owns.
    return { provider, emulated: false, close: () => provider.close() };
  }
  if (c.sim) {
    if (!d.simulate) throw new KilnError("no_simulation", `${d.title} has no simulated account for --sim`);
    const sim = await d.simulate({ bootDelayMs: Number(o.env["KILN_SIM_BOOT_MS"] ?? "") || 500, logger: o.logger });
    return { provider: sim.provider, emulated: true, ...(sim.endBilling && { endBilling: sim.endBilling }), billed: () => sim.billed(), close: () => sim.close() };
  }
  const cloud = await requireCloud(c.provider, { env: o.env, credentialsPath: paths.credentials, logger: o.logger });
  return { provider: cloud.provider, emulated: cloud.emulated, ...(cloud.endBilling && { endBilling: cloud.endBilling }), ...(consoleUrl && { consoleUrl }), close: async () => {} };
}

export async function driveCloudJob(jobDir: string, o: DriveOptions): Promise<JobState> {
  const t0 = Date.now();
  const mark = (name: string) => o.onMilestone?.(name, Date.now() - t0);
  const paths = kilnPaths(o.env);
  const c = readCloudFile(jobDir);
  if (!c) throw new KilnError("cloud_file", `${jobDir} has no cloud.json`);
  const layout = jobLayout(paths.jobs, c.jobId);
  const ledger = LedgerClass.open(paths.ledger);
  const spec = await loadJobSpec(layout.spec);
  const specDir = c.specDir;
  const key = privateKeyFor(paths.keys, c.keyPath, specDir);
  const log = o.logger;
  let cloud: Cloud | undefined;
  let conn: SshConnection | undefined;
  let row: MachineLedgerRecord | undefined;
  let rp: RemotePaths | undefined;
  let steps: Step[] = [];
  let machine: CloudOffer | undefined;
  // The driver is its job's recoverer for its whole life: `kiln down`/`gc`/`status --refresh` leave it alone.
  const lock = tryLockJob(ledger, c.jobId, "the job's driver");
  if (!lock.ok) {
    ledger.close();
    throw new KilnError("job_locked", `job ${c.jobId} is being recovered by another Kiln process: ${lock.why}`);
  }
  let runStarted = false;
  /** The provider said the machine is gone (reclaimed or lost) while the run went on. */
  let gone: (RunOutcome & { gone?: true }) | undefined;
  // The user's own host: never torn down, its run is stopped instead.
  const isHost = providerNamed(c.provider).kind === "host";
  let unsaved: string | undefined;
  const attempt = ledger.startAttempt(c.jobId, c.provider);
  ledger.transitionJob(c.jobId, "running", `driving on ${c.provider}${c.sim ? " (simulated)" : ""}`);
  const terminate = { ...c.terminate, signal: o.signal, logger: log, env: o.env };
  let final: { state: JobState; reason: string };
  try {
    // Built and secret-scanned by `kiln run` before this driver started: what is shipped is what was scanned.
    const prepared = readPreparedJob(jobDir);
    cloud = await openCloud(c, o, paths, key.privateKey);
    mark("provider");
    const launched = await launchWithFailover({ provider: cloud.provider, ledger, jobId: c.jobId, attemptId: attempt.id, offers: c.offers as never, maxOffers: c.maxOffers, sshKeyName: sshKeyNameFor(key.publicKey), sshPublicKey: key.publicKey, signal: o.signal, logger: log, env: o.env, listingLagMs: Number(o.env["KILN_LISTING_LAG_MS"] ?? "") || providerNamed(c.provider).listingLagMs });
    row = launched.row;
    machine = launched.offer as CloudOffer;
    const where = `${launched.offer.instanceType} in ${launched.offer.region} at $${launched.offer.pricePerHour.toFixed(2)}/h`;
    ledger.addEvent({ jobId: c.jobId, attemptId: attempt.id, machineId: row.id, kind: "launch", reason: launched.failures.length > 0 ? `failed over to ${where}` : `launched ${where}`, data: { failures: launched.failures } });
    if (launched.failures.length > 0) log.warn(`failed over to ${where}; earlier offers:\n${failureTable(launched.failures)}`);
    mark("launched");
    const running = await waitUntilRunning(cloud.provider, launched.machine.id, { timeoutMs: c.bootTimeoutMs, signal: o.signal, env: o.env, notFoundGraceMs: Number(o.env["KILN_LISTING_LAG_MS"] ?? "") || providerNamed(c.provider).listingLagMs });
    ledger.setMachineState(row.id, "running", `running at ${running.ssh.host}:${running.ssh.port}`);
    mark("running");
    // The user's host is pinned by its address (one host, many jobs); a rented machine by its id.
    conn = await connectMachine(running, { privateKey: key.privateKey, knownHostsFile: paths.knownHosts, timeoutMs: c.bootTimeoutMs, signal: o.signal, logger: log, ...(c.ssh && { hostKeyAlias: null }) });
    crashPoint("after-ssh", o.env);
    mark("ssh");
    const emulated = cloud.emulated;
    const hostPython = c.ssh?.python;
    // What to ship was decided, and the bundle built and secret-scanned, before the launch (./prepare.ts).
    const { setup, ship } = prepared;
    // Before setup: torch is only a candidate (setup installs one) and the workload is not there yet;
    // both are checked once they are (setupRemoteEnvironment's probe, requireHostPythonReady).
    const need = needFromSpec(spec, { cpuOnly: emulated ? "simulated machine (this computer)" : undefined, env: o.env, afterSetup: !setup && !ship, ...(hostPython !== undefined && { python: hostPython }) });
    if (emulated) {
      // The simulated machine is this computer: record the checklist, but it is not a GPU to gate on.
      const results = await verifyMachine(conn, need, { signal: o.signal });
      ledger.addEvent({ jobId: c.jobId, machineId: row.id, kind: "verify", reason: "checklist on a simulated machine (not gating)", data: results.map((r) => ({ id: r.id, status: r.status })) });
    } else {
      await requireMachineReady(conn, need, { signal: o.signal, logger: log });
    }
    mark("verified");
    rp = remotePaths(await remoteHome(conn), c.jobId);
    // For `kiln ssh`, `kiln pull` and `kiln logs`: how to reach this machine, with the same key and pin.
    saveMachineAccess(jobDir, { v: 1, hostAlias: `kiln-${c.jobName}`.replace(/[^A-Za-z0-9_.-]/g, "-"), host: running.ssh.host, port: running.ssh.port, user: running.ssh.user, keyPath: key.path, hostKeyAlias: conn.alias, artifactsDir: `${rp.job}/outputs` });
    steps = stepsOnMachine(prepared.steps, rp.base);
    const shipped = await shipBundle(conn, { bundle: prepared.bundle, placeholderFiles: prepared.placeholderFiles, paths: rp, signal: o.signal, env: o.env });
    if (ship && !setup && hostPython !== undefined) {
      await useHostPython(conn, rp);
      await requireHostPythonReady(conn, { python: hostPython, workloadDir: `${rp.base}/workload`, minTorch: need.minTorch, needCuda: !("cpuOnly" in need.gpu), signal: o.signal });
    }
    ledger.addEvent({ jobId: c.jobId, machineId: row.id, kind: "shipped", reason: `shipped the job: ${(shipped.bytes / 1e6).toFixed(1)} MB bundle, ${shipped.files} files, secret-scanned, verified on arrival` });
    mark("shipped");
    if (setup) {
      if (!shipped.requirementsHash) throw new KilnError("bundle_incomplete", "the bundle has no workload/pyproject.toml to set the machine up from");
      const python = await setupJobPython(conn, { home: rp.base.replace(/\/kiln\/jobs\/[^/]+$/, ""), paths: rp, requirementsHash: shipped.requirementsHash, signal: o.signal, logger: log });
      ledger.addEvent({ jobId: c.jobId, machineId: row.id, kind: "setup", reason: `workload environment ready (${python})` });
      mark("setup");
    }
    // A loopback "host" is this computer, whose one tmux server other sessions share (see startJob).
    await startJob(conn, c.jobId, rp, emulated || isLoopbackHost(running.ssh.host) ? "setsid" : "auto");
    const budgetS = (c.budget.maxUsd / running.pricePerHour) * 3600;
    const remainingS = Math.min(budgetS, (c.budget.maxHours ?? Number.POSITIVE_INFINITY) * 3600) - (Date.now() - Date.parse(row.launched_at ?? new Date().toISOString())) / 1000 - c.pollMs / 1000;
    // The watchdog holds the cap itself (one interval early) in case this laptop sleeps or dies. A free
    // host with no max_hours has no deadline to hold.
    if (Number.isFinite(remainingS)) await startWatchdog(conn, {
      dir: rp.watchdog,
      name: `kiln-wd-${c.jobId}`,
      runDir: rp.run,
      remainingS,
      graceS: c.stopGraceMs / 1000,
      ...(c.watchdogTerminate && cloud.endBilling && { endBilling: cloud.endBilling(running.id) }),
    });
    ledger.addEvent({ jobId: c.jobId, machineId: row.id, kind: "run_started", reason: Number.isFinite(remainingS) ? `run and watchdog started (deadline in ${Math.round(remainingS)} s${c.watchdogTerminate ? ", self-terminating" : ""})` : "run started (no deadline: free host, no max_hours)" });
    runStarted = true;
    crashPoint("after-start", o.env);
    mark("started");
    const outcome: RunOutcome = await monitorRun({
      conn,
      ledger,
      jobId: c.jobId,
      machineRowId: row.id,
      runDir: rp.run,
      remoteOutputs: `${rp.job}/outputs`,
      localOutputs: layout.outputs,
      progressFile: join(jobDir, "progress.txt"),
      budget: c.budget,
      pollMs: c.pollMs,
      syncIntervalMs: spec.artifacts.sync_interval * 1000,
      logs: { remote: `${rp.job}/logs`, local: layout.logs },
      teardownReserveMs: c.teardownReserveMs,
      // The provider is asked too (≤ 15 s): a machine it reclaimed or lost ends the run at once.
      ...(!isHost && { provider: { provider: cloud.provider, id: running.id, everyMs: Number(o.env["KILN_PROVIDER_POLL_MS"] ?? "") || 15_000 } }),
      signal: o.signal,
      logger: log,
      env: o.env,
    });
    if ((outcome.kind === "lost" || outcome.kind === "preempted") && outcome.gone) {
      // Its outputs went with it: what the periodic syncs pulled is what there is. Nothing to save, so
      // nothing keeps the (gone) machine; teardown only confirms it.
      gone = outcome;
      throw new KilnError(outcome.kind === "preempted" ? "machine_preempted" : "machine_lost", outcome.reason ?? "the machine is gone");
    }
    if (outcome.kind === "budget" || outcome.kind === "aborted") {
      ledger.addEvent({ jobId: c.jobId, machineId: row.id, kind: "stopping", reason: outcome.kind === "budget" ? outcome.reason : "stop requested" });
      await stopRun(conn, rp.run, { graceMs: c.stopGraceMs });
    }
    await stopWatchdog(conn, rp.watchdog);
    await pullArtifacts(conn, `${rp.job}/outputs`, layout.outputs, { signal: AbortSignal.timeout(600_000), onFile: () => crashPoint("during-pull", o.env) });
    await pullLogs(conn, rp, layout.logs, log);
    crashPoint("during-pull", o.env); // also when every file was already copied by the periodic pulls
    const safe = await assertSafeToTearDown({ conn, remoteDir: `${rp.job}/outputs`, localDir: layout.outputs, pullCommand: `kiln down ${c.jobId}` });
    const p = readProgress(join(layout.outputs, "sae", "metrics.jsonl"));
    const spent = machineCost(ledger.getMachine(row.id)!, Date.now());
    writeFileSync(join(jobDir, "progress.txt"), `${progressText(p, spent, spent, c.budget.maxUsd)}\n`);
    for (const e of safe.manifest) ledger.recordArtifact({ jobId: c.jobId, path: e.path, size: e.size, sha256: e.sha256, verified: true });
    if (c.ssh?.cleanup) {
      // Only now: every artifact is verified on this side.
      await runChecked(conn, ["rm", "-rf", "--", rp.base], { what: "remove the job directory on the host" });
      ledger.addEvent({ jobId: c.jobId, machineId: row.id, kind: "cleanup", reason: `removed ${rp.base} on ${running.ssh.host}` });
    }
    crashPoint("before-terminate", o.env);
    final =
      outcome.kind === "exited" && outcome.code === 0
        ? { state: "succeeded", reason: "the job finished; artifacts verified" }
        : outcome.kind === "budget"
          ? { state: "stopped", reason: `${outcome.reason}; checkpointed and artifacts verified` }
          : outcome.kind === "aborted"
            ? { state: "stopped", reason: "stopped on request; artifacts verified" }
            : { state: "failed", reason: outcome.kind === "exited" ? `the job exited with code ${outcome.code}` : "the run was lost on the machine" };
  } catch (e) {
    log.error(`cloud run failed: ${errorMessage(e)}`);
    final = { state: "failed", reason: errorMessage(e) };
    unsaved = gone ? undefined : "the machine could not be reached";
    if (conn && rp && !gone) {
      // Keep whatever the machine produced before it goes; a failed pull is recorded, not fatal here.
      if (isHost) {
        // The user's host is not torn down: the run itself must stop, or it keeps the GPU busy unseen.
        const stopped = rp.run;
        await stopRun(conn, stopped, { graceMs: c.stopGraceMs }).catch((se: unknown) => log.warn(`could not stop the run on the host: ${errorMessage(se)}`));
        await stopWatchdog(conn, rp.watchdog).catch(() => undefined);
      }
      await pullArtifacts(conn, `${rp.job}/outputs`, layout.outputs, { signal: AbortSignal.timeout(120_000) })
        .then((pulled) => {
          for (const f of pulled.manifest) ledger.recordArtifact({ jobId: c.jobId, path: f.path, size: f.size, sha256: f.sha256, verified: true });
          unsaved = undefined;
        })
        .catch((pe: unknown) => {
          unsaved = `its outputs could not be pulled: ${errorMessage(pe)}`;
        });
      await pullLogs(conn, rp, layout.logs, log);
    }
  }
  conn?.close();
  try {
    const cur = row ? ledger.getMachine(row.id) : undefined;
    if (runStarted && unsaved !== undefined && !isHost && cur && cur.state !== "terminated") {
      // Never destroy outputs that were not saved: the machine is kept (and may bill) until they are.
      const why = `outputs of ${c.jobId} not saved (${unsaved}); machine ${cur.provider_id ?? cur.intent_id} KEPT and may still be billing: \`kiln down ${c.jobId}\` retries, \`kiln down ${c.jobId} --force\` terminates it without them`;
      ledger.addEvent({ jobId: c.jobId, machineId: cur.id, kind: "alert", reason: why });
      log.error(why);
      final = { state: "failed", reason: `${final.reason}; ${why}` };
    } else if (cloud && cur && cur.provider_id !== null && cur.state !== "terminated") {
      await terminateAndConfirm(cloud.provider, ledger, cur, final.state === "succeeded" ? "job finished" : final.reason, { ...terminate, signal: AbortSignal.timeout(c.terminate.timeoutMs + 60_000), ...(cloud.consoleUrl && { consoleUrl: cloud.consoleUrl }) });
    }
  } catch (e) {
    final = { state: "failed", reason: `${final.reason}; ${errorMessage(e)}` };
  } finally {
    ledger.endAttempt(attempt.id, gone ? (gone.kind === "preempted" ? "preempted" : "lost") : final.state === "succeeded" ? "succeeded" : final.state === "stopped" ? "stopped" : "failed", final.reason);
    ledger.transitionJob(c.jobId, final.state, final.reason);
    if (rp && machine && steps.length > 0) {
      try {
        writeRemoteReport(ledger, { cloud: c, jobDir, steps, remoteJobDir: rp.job, machine, planReason: ledger.getJob(c.jobId)?.plan_reason ?? "" });
      } catch (e) {
        // The job's outcome stands without its report; `kiln report` can rebuild it.
        log.warn(`report not written: ${errorMessage(e)}`);
      }
    }
    if (cloud?.billed) writeFileSync(join(jobDir, "sim-billing.json"), `${JSON.stringify(cloud.billed(), null, 2)}\n`);
    await cloud?.close();
    lock.release();
    ledger.close();
  }
  mark("closed");
  return final.state;
}

export type { Ledger };

/** The step logs, for `kiln logs` once the machine is gone; best effort (the outputs are what is verified). */
async function pullLogs(conn: SshConnection, rp: RemotePaths, localLogs: string, log: Logger): Promise<void> {
  await pullArtifacts(conn, `${rp.job}/logs`, localLogs, { signal: AbortSignal.timeout(120_000) }).catch((e: unknown) => log.warn(`step logs not pulled: ${errorMessage(e)}`));
}

const isLoopbackHost = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.");

/** The host's interpreter imports the shipped workload first: `job/env.sh` (sourced by the step script) sets PYTHONPATH. */
async function useHostPython(conn: SshConnection, rp: RemotePaths): Promise<void> {
  const line = `PYTHONPATH=${shellQuote(`${rp.base}/workload`)}\${PYTHONPATH:+:$PYTHONPATH}; export PYTHONPATH\n`;
  await runChecked(conn, ["sh", "-c", 'cat > "$1"', "sh", `${rp.job}/env.sh`], { stdin: line, what: "write the job's environment" });
}

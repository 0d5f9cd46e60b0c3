/**
 * The steps of one attempt (./attempt.ts runs them in this order, each recorded before it acts). Each is
 * small and leaves what the next needs on the attempt: the machine's ledger row, its address, the SSH
 * connection, the remote paths, the run's outcome.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../../base/errors.js";
import { requireHostPythonReady } from "../../remote/setup/index.js";
import { saveMachineAccess } from "../../remote/ssh/access.js";
import type { MachineAccess } from "../../remote/access.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { shellQuote } from "../../remote/exec.js";
import { stopRun } from "../../remote/session/run.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import { assertSafeToTearDown } from "../../remote/sync/verify.js";
import { providerNamed } from "../../providers/registry.js";
import { machineCost } from "../cost/index.js";
import { needFromSpec, requireMachineReady, verifyMachine } from "../verify/index.js";
import { type WatchdogSpec, startWatchdog, stopWatchdog, watchdogForJob } from "../watchdog/index.js";
import { storeCredentialsForJob, storeLocation } from "../artifact-store/index.js";
import { type Attempt, machineGone, pullLogs } from "./attempt-context.js";
import { capSecondsLeft } from "./cap.js";
import { renewStoreCredentials } from "./store-renewal.js";
import { persistentVolumeFor } from "./volume-store.js";
import { crashPoint } from "./crash.js";
import { failureTable, launchWithFailover } from "./launch.js";
import { connectMachine, waitUntilRunning } from "./machine.js";
import { monitorRun, progressText, readProgress } from "./monitor.js";
import { startNoticeWatcher } from "./notice.js";
import { stepsOnMachine } from "./prepare.js";
import { restoreOutputs } from "./recovery.js";
import { type RemotePaths, remoteHome, remotePaths, setupJobPython, shipBundle, startJob } from "./remote-job.js";
import { sshKeyNameFor } from "./ssh-key-name.js";

/**
 * What the machine must have. Before setup torch is only a candidate (setup installs one) and the workload
 * is not there yet; both are checked once they are (setupRemoteEnvironment's probe, requireHostPythonReady).
 */
function needFor(a: Attempt): ReturnType<typeof needFromSpec> {
  const { c, o, spec, prepared } = a.job;
  const hostPython = c.ssh?.python;
  return needFromSpec(spec, { cpuOnly: a.cloud!.emulated ? "simulated machine (this computer)" : undefined, env: o.env, afterSetup: !prepared.setup && !prepared.ship, ...(hostPython !== undefined && { python: hostPython }) });
}

export interface AttemptStep {
  name: string;
  run(a: Attempt): Promise<void>;
}

/** A cheapest-first launch over the attempt's offers, failing over across providers by the contract's error classes. */
async function launch(a: Attempt): Promise<void> {
  const { job } = a;
  const { c, o, ledger } = job;
  const launched = await launchWithFailover({
    providerFor: async (name) => (await job.clouds.get(name)).provider,
    blockedProviders: job.blockedProviders,
    ledger,
    jobId: c.jobId,
    attemptId: a.id,
    offers: a.offers.map((x) => ({ ...x, available: x.available ?? true })),
    maxOffers: c.maxOffers,
    sshKeyName: sshKeyNameFor(job.key.publicKey),
    sshPublicKey: job.key.publicKey,
    signal: o.signal,
    logger: o.logger,
    env: o.env,
    listingLagMs: (name) => job.clouds.lagOf(name),
    maxRunSecondsFor: (rowId) => cloudDeadlineS(job, rowId),
    selfStop: watchdogEndsBilling(job),
    ...persistentVolumeFor(job.spec),
  });
  a.cloud = await job.clouds.get(launched.offer.provider);
  a.row = launched.row;
  a.offer = launched.offer as typeof a.offer;
  if (launched.offer.provider !== ledger.getAttempt(a.id)?.provider) ledger.setAttemptProvider(a.id, launched.offer.provider);
  const where = `${launched.offer.provider} ${launched.offer.instanceType} in ${launched.offer.region} at $${launched.offer.pricePerHour.toFixed(2)}/h`;
  ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: a.row.id, kind: "launch", reason: launched.failures.length > 0 ? `failed over to ${where}` : `launched ${where}`, data: { failures: launched.failures } });
  if (launched.failures.length > 0) o.logger.warn(`failed over to ${where}; earlier offers:\n${failureTable(launched.failures)}`);
  a.running = { ...launched.machine, ssh: launched.machine.ssh ?? { host: "", port: 0, user: "" } };
  job.mark("launched");
}

/** Wait until the provider says running with an address (a machine that dies while booting ends the wait). */
async function boot(a: Attempt): Promise<void> {
  const { c, o, ledger } = a.job;
  const running = await waitUntilRunning(a.cloud!.provider, a.running!.id, { timeoutMs: c.bootTimeoutMs, signal: o.signal, env: o.env, notFoundGraceMs: a.cloud!.listingLagMs });
  a.running = running;
  ledger.setMachineState(a.row!.id, "running", `running at ${running.ssh.host}:${running.ssh.port}`);
  a.job.mark("running");
}

async function connect(a: Attempt): Promise<void> {
  const { c, o, paths, key } = a.job;
  // The user's host is pinned by its address (one host, many jobs); a rented machine by its id.
  a.conn = await connectMachine(a.running!, { privateKey: key.privateKey, knownHostsFile: paths.knownHosts, timeoutMs: c.bootTimeoutMs, signal: o.signal, logger: o.logger, ...(c.ssh && { hostKeyAlias: null }) });
  crashPoint("after-ssh", o.env);
  a.job.mark("ssh");
}

/** The machine checklist; a simulated machine (this computer) is recorded, not gated on. */
async function verify(a: Attempt): Promise<void> {
  const { job } = a;
  const { c, o, ledger } = job;
  const conn = a.conn!;
  const emulated = a.cloud!.emulated;
  const need = needFor(a);
  if (emulated) {
    const results = await verifyMachine(conn, need, { signal: o.signal });
    ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "verify", reason: "checklist on a simulated machine (not gating)", data: results.map((r) => ({ id: r.id, status: r.status })) });
  } else {
    await requireMachineReady(conn, need, { signal: o.signal, logger: o.logger });
  }
  job.mark("verified");
}

/** Upload the bundle built before launch (verified on arrival); record how to reach the machine for `kiln ssh`/`logs`/`pull`. */
async function ship(a: Attempt): Promise<void> {
  const { job } = a;
  const { c, o, ledger, prepared, key } = job;
  const conn = a.conn!;
  const running = a.running!;
  const rp = remotePaths(await remoteHome(conn), c.jobId);
  a.rp = rp;
  saveMachineAccess(job.jobDir, { v: 1, hostAlias: `kiln-${c.jobName}`.replace(/[^A-Za-z0-9_.-]/g, "-"), host: running.ssh.host, port: running.ssh.port, user: running.ssh.user, keyPath: key.path, hostKeyAlias: conn.alias, artifactsDir: `${rp.job}/outputs` });
  a.steps = stepsOnMachine(prepared.steps, rp.base);
  const shipped = await shipBundle(conn, { bundle: prepared.bundle, placeholderFiles: prepared.placeholderFiles, paths: rp, signal: o.signal, env: o.env });
  const hostPython = c.ssh?.python;
  if (prepared.ship && !prepared.setup && hostPython !== undefined) {
    await useHostPython(conn, rp);
    const need = needFor(a);
    await requireHostPythonReady(conn, { python: hostPython, workloadDir: `${rp.base}/workload`, minTorch: need.minTorch, needCuda: !("cpuOnly" in need.gpu), signal: o.signal });
  }
  ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "shipped", reason: `shipped the job: ${(shipped.bytes / 1e6).toFixed(1)} MB bundle, ${shipped.files} files, secret-scanned, verified on arrival` });
  requirementsHash.set(a, shipped.requirementsHash);
  job.mark("shipped");
}

const requirementsHash = new WeakMap<Attempt, string | undefined>();

/**
 * The job's saved outputs onto the new machine (a recovery, or `kiln run --resume`): the engine resumes
 * from the newest verified checkpoint among them. Nothing to do on a first attempt.
 */
async function restore(a: Attempt): Promise<void> {
  const { job } = a;
  const r = await restoreOutputs(a.conn!, job.layout.outputs, `${a.rp!.job}/outputs`, job.o.signal);
  crashPoint("during-restore", job.o.env);
  if (r.files > 0) job.ledger.addEvent({ jobId: job.c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "restored", reason: `restored ${r.files} saved output files (${(r.bytes / 1e6).toFixed(1)} MB, verified); the run resumes from its newest checkpoint` });
}

async function setup(a: Attempt): Promise<void> {
  const { job } = a;
  if (!job.prepared.setup) return;
  const hash = requirementsHash.get(a);
  if (!hash) throw new KilnError("bundle_incomplete", "the bundle has no workload/pyproject.toml to set the machine up from");
  const rp = a.rp!;
  const python = await setupJobPython(a.conn!, { home: rp.base.replace(/\/kiln\/jobs\/[^/]+$/, ""), paths: rp, requirementsHash: hash, signal: job.o.signal, logger: job.o.logger });
  job.ledger.addEvent({ jobId: job.c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "setup", reason: `workload environment ready (${python})` });
  job.mark("setup");
}

/** The run, in a session that survives disconnects, and the on-machine watchdog that holds the cap without the client. */
async function start(a: Attempt): Promise<void> {
  const { job } = a;
  const { c, ledger } = job;
  const conn = a.conn!;
  const rp = a.rp!;
  const running = a.running!;
  // A loopback "host" is this computer, whose one tmux server other sessions share (see startJob).
  await startJob(conn, c.jobId, rp, a.cloud!.emulated || isLoopbackHost(running.ssh.host) ? "setsid" : "auto");
  const remainingS = capSecondsLeft(ledger, c, a.row!.id, Date.now());
  // The watchdog holds the cap itself in case this laptop sleeps or dies (docs/lifecycle.md §7). A free
  // host with no max_hours has no deadline to hold.
  if (Number.isFinite(remainingS)) {
    const w = await watchdogFor(a, remainingS);
    await startWatchdog(conn, w);
    a.watchdog = w;
    // The client stops the run itself before the watchdog would (which leaves time for its push): the
    // watchdog is the backstop for a client that is gone, not a race with one that is here.
    a.stopAt = Date.now() + w.remainingS * 1000 - 2 * c.pollMs;
  }
  // Clouds that warn before a reclaim: the engine gets SIGTERM (a final checkpoint) while the machine still answers.
  const notice = a.offer && providerNamed(a.offer.provider).reclaimNotice;
  if (notice && !job.isHost) {
    await startNoticeWatcher(conn, { dir: `${rp.base}/notice`, name: `kiln-notice-${c.jobId}`, runDir: rp.run, noticeFile: noticeFileOf(rp), notice });
  }
  // The watchdog's deadline, kept for reconciliation: a machine the watchdog ended with no client here is
  // charged up to it, not up to whenever a client next looks (src/core/reconcile/reconcile.ts).
  const deadline = Number.isFinite(remainingS) ? { watchdogDeadlineAt: new Date(Date.now() + remainingS * 1000).toISOString() } : undefined;
  ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "run_started", reason: Number.isFinite(remainingS) ? `run and watchdog started (deadline in ${Math.round(remainingS)} s${c.watchdogTerminate ? ", self-terminating" : ""})` : "run started (no deadline: free host, no max_hours)", ...(deadline && { data: deadline }) });
  a.runStarted = true;
  crashPoint("after-start", job.o.env);
  job.mark("started");
}

/**
 * The deadline a cloud enforces itself (GCE maxRunDuration): the cap's whole remaining time, since the
 * watchdog reserves its own stop, push and end of billing inside it. Only when the job chose to stop
 * billing at the cap (or left it to a cloud-side stop): `keep-data` means the machine must outlive the cap
 * when its outputs are not safe, so no cloud may delete it then.
 */
function cloudDeadlineS(job: Attempt["job"], rowId: number): number | undefined {
  const { c, spec } = job;
  if (job.isHost) return undefined;
  const choice = c.watchdogTerminate && spec.budget.on_cap_offline === undefined ? "stop-billing" : spec.budget.on_cap_offline;
  if (choice === "keep-data") return undefined;
  const s = capSecondsLeft(job.ledger, c, rowId, Date.now()) + c.pollMs / 1000;
  return Number.isFinite(s) ? Math.max(60, Math.floor(s)) : undefined;
}

/** A cloud job submitted with --watchdog-terminate chose stop-billing (cloud.json keeps the flag). */
function decidedSpec(job: Attempt["job"]): Attempt["job"]["spec"] {
  const { c, spec } = job;
  return c.watchdogTerminate && spec.budget.on_cap_offline === undefined ? { ...spec, budget: { ...spec.budget, on_cap_offline: "stop-billing" as const } } : spec;
}

/** Does the watchdog end billing at the cap with no client: after a push to the durable store, or because the spec chose stop-billing? */
function watchdogEndsBilling(job: Attempt["job"]): boolean {
  return !job.isHost && (job.spec.artifacts.store !== undefined || decidedSpec(job).budget.on_cap_offline === "stop-billing");
}

/**
 * The watchdog for this attempt's machine. A rented machine's: at the cap, checkpoint, push the outputs to
 * the durable store and verify them, then end billing, as the spec and the provider allow
 * (`watchdogForJob`). The user's own host is never billed: at max_hours its run is stopped, nothing more.
 */
async function watchdogFor(a: Attempt, remainingS: number): Promise<WatchdogSpec> {
  const { job } = a;
  const { c, o, spec } = job;
  const rp = a.rp!;
  const graceS = c.stopGraceMs / 1000;
  if (job.isHost) return { dir: rp.watchdog, name: `kiln-wd-${c.jobId}`, runDir: rp.run, remainingS, graceS };
  const store = spec.artifacts.store;
  const decided = decidedSpec(job);
  const ends = watchdogEndsBilling(job);
  const storeCredentials = store
    ? await storeCredentialsForJob({ store, location: storeLocation(store, c.jobId), env: o.env, validForS: Math.max(900, Math.ceil(remainingS) + 3600), sessionName: `kiln-${c.jobId}`, signal: o.signal })
    : undefined;
  return watchdogForJob({
    spec: decided,
    jobId: c.jobId,
    runDir: rp.run,
    watchdogDir: rp.watchdog,
    outputsDir: `${rp.job}/outputs`,
    secondsUntilCap: remainingS,
    graceS,
    ...(ends && a.cloud!.endBilling && { endBilling: a.cloud!.endBilling(a.running!.id) }),
    capabilities: providerNamed(a.offer!.provider).cap,
    ...(storeCredentials && { storeCredentials }),
    // Tests with caps of seconds shrink the time kept for the push (default 10 min, for multi-GB outputs).
    ...(Number(o.env["KILN_PUSH_ALLOWANCE_S"] ?? "") > 0 && { pushAllowanceS: Number(o.env["KILN_PUSH_ALLOWANCE_S"]) }),
    ...(Number(o.env["KILN_RETRIEVAL_ALLOWANCE_S"] ?? "") > 0 && { retrievalAllowanceS: Number(o.env["KILN_RETRIEVAL_ALLOWANCE_S"]) }),
  });
}

/** Watch the run until it ends, the cap is reached, a stop is asked, or the provider takes the machine away. */
async function monitor(a: Attempt): Promise<void> {
  const { job } = a;
  const { c, o, layout } = job;
  const rp = a.rp!;
  const outcome = await monitorRun({
    conn: a.conn!,
    ledger: job.ledger,
    jobId: c.jobId,
    machineRowId: a.row!.id,
    runDir: rp.run,
    remoteOutputs: `${rp.job}/outputs`,
    localOutputs: layout.outputs,
    progressFile: join(job.jobDir, "progress.txt"),
    budget: c.budget,
    pollMs: c.pollMs,
    syncIntervalMs: job.spec.artifacts.sync_interval * 1000,
    logs: { remote: `${rp.job}/logs`, local: layout.logs },
    teardownReserveMs: c.teardownReserveMs,
    // The provider is asked too (≤ 15 s): a machine it reclaimed or lost ends the run at once.
    ...(!job.isHost && { provider: { provider: a.cloud!.provider, id: a.running!.id, everyMs: Number(o.env["KILN_PROVIDER_POLL_MS"] ?? "") || 15_000 } }),
    ...(a.offer && providerNamed(a.offer.provider).reclaimNotice && { noticeFile: noticeFileOf(rp), noticeWindowMs: providerNamed(a.offer.provider).reclaimNotice!.seconds * 1000 }),
    ...(a.stopAt !== undefined && { stopAt: a.stopAt }),
    onTick: async (signal) => {
      await renewStoreCredentials(a, signal);
    },
    signal: o.signal,
    logger: o.logger,
    env: o.env,
  });
  a.outcome = outcome;
  // Its outputs went with it: what the syncs pulled (each checkpoint right after it was written) is what there is.
  if ((outcome.kind === "lost" || outcome.kind === "preempted") && outcome.gone) throw machineGone(outcome.kind, outcome.reason ?? "the machine is gone");
}

/** Stop the run if the cap or the user said so, pull every output and verify it here: only then may teardown follow. */
async function collect(a: Attempt): Promise<void> {
  const { job } = a;
  const { c, o, ledger, layout } = job;
  const conn = a.conn!;
  const rp = a.rp!;
  const outcome = a.outcome!;
  if (outcome.kind === "budget" || outcome.kind === "aborted") {
    ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "stopping", reason: outcome.kind === "budget" ? outcome.reason : "stop requested" });
    await stopRun(conn, rp.run, { graceMs: c.stopGraceMs });
  }
  await stopWatchdog(conn, rp.watchdog);
  await pullArtifacts(conn, `${rp.job}/outputs`, layout.outputs, { signal: AbortSignal.timeout(600_000), onFile: () => crashPoint("during-pull", o.env) });
  await pullLogs(a);
  crashPoint("during-pull", o.env); // also when every file was already copied by the periodic pulls
  const safe = await assertSafeToTearDown({ conn, remoteDir: `${rp.job}/outputs`, localDir: layout.outputs, pullCommand: `kiln down ${c.jobId}` });
  const p = readProgress(join(layout.outputs, "sae", "metrics.jsonl"));
  const spent = machineCost(ledger.getMachine(a.row!.id)!, Date.now());
  writeFileSync(join(job.jobDir, "progress.txt"), `${progressText(p, spent, spent, c.budget.maxUsd)}\n`);
  for (const e of safe.manifest) ledger.recordArtifact({ jobId: c.jobId, path: e.path, size: e.size, sha256: e.sha256, verified: true });
  if (c.ssh?.cleanup) {
    // Only now: every artifact is verified on this side.
    await runChecked(conn, ["rm", "-rf", "--", rp.base], { what: "remove the job directory on the host" });
    ledger.addEvent({ jobId: c.jobId, attemptId: a.id, machineId: a.row!.id, kind: "cleanup", reason: `removed ${rp.base} on ${a.running!.ssh.host}` });
  }
  crashPoint("before-terminate", o.env);
  a.end =
    outcome.kind === "exited" && outcome.code === 0
      ? { state: "succeeded", reason: "the job finished; artifacts verified" }
      : outcome.kind === "budget"
        ? { state: "stopped", reason: `${outcome.reason}; checkpointed and artifacts verified` }
        : outcome.kind === "aborted"
          ? { state: "stopped", reason: "stopped on request; artifacts verified" }
          : outcome.kind === "preempted"
            ? { state: "preempted", reason: `${outcome.reason}; final checkpoint saved and artifacts verified` }
            : outcome.kind === "lost"
            ? // The run vanished on a machine that still answers (a reboot, an OOM kill of the group): saved, so recoverable.
              { state: "lost", reason: `the run was lost on the machine (${outcome.reason ?? "no exit code"}); artifacts verified` }
            : { state: "failed", reason: outcome.kind === "exited" ? `the job exited with code ${outcome.code}` : "the run was lost on the machine" };
}

export const ATTEMPT_STEPS: readonly AttemptStep[] = [
  { name: "launch", run: launch },
  { name: "boot", run: boot },
  { name: "connect", run: connect },
  { name: "verify", run: verify },
  { name: "ship", run: ship },
  { name: "restore", run: restore },
  { name: "setup", run: setup },
  { name: "start", run: start },
  { name: "monitor", run: monitor },
  { name: "collect", run: collect },
];

const noticeFileOf = (rp: RemotePaths): string => `${rp.base}/notice/reclaim-notice`;

const isLoopbackHost = (host: string): boolean => host === "localhost" || host === "::1" || host.startsWith("127.");

/** The host's interpreter imports the shipped workload first: `job/env.sh` (sourced by the step script) sets PYTHONPATH. */
async function useHostPython(conn: MachineAccess, rp: RemotePaths): Promise<void> {
  const line = `PYTHONPATH=${shellQuote(`${rp.base}/workload`)}\${PYTHONPATH:+:$PYTHONPATH}; export PYTHONPATH\n`;
  await runChecked(conn, ["sh", "-c", 'cat > "$1"', "sh", `${rp.job}/env.sh`], { stdin: line, what: "write the job's environment" });
}

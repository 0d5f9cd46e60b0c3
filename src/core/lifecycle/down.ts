/**
 * `kiln down JOB`: verified teardown. A job whose driver is alive is asked to stop (SIGTERM: it
 * checkpoints, pulls, verifies and terminates, as at the end of any run) and waited for. Otherwise Kiln
 * does it here: stop the run (checkpoint), pull and verify the outputs — refusing to terminate while
 * they are unverified unless `force` (recorded in the ledger as a warning) — then terminate and confirm.
 */
import { pollUntil } from "../../base/deadline.js";
import { KilnError, UserError, errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { Provider } from "../../providers/provider.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import { stopRun } from "../../remote/session/run.js";
import { assertSafeToTearDown } from "../../remote/sync/verify.js";
import { type JobRecord, type MachineLedgerRecord, type Ledger, isTerminal } from "../../store/index.js";
import type { KilnPaths } from "../home.js";
import { jobLayout } from "../job/layout.js";
import { closeDeadJob, emptyReport, isJobAlive, isOpenMachine, hostConnectTimeoutMs, reconcileSimulated, terminateSettings } from "../reconcile/index.js";
import { stopWatchdog } from "../watchdog/index.js";
import { type CloudFile, readCloudFile } from "./cloud-file.js";
import { lockJobOrFail } from "../jobs/lock.js";
import { NEVER_LAUNCHED } from "./launch.js";
import { connectMachine } from "./machine.js";
import { hostProvider, requireCloud } from "./providers.js";
import { providerNamed } from "../../providers/registry.js";
import { remoteHome, remotePaths } from "./remote-job.js";
import { terminateAndConfirm } from "./teardown.js";

export interface DownOptions {
  ledger: Ledger;
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
  force: boolean;
}

export interface DownResult {
  how: "driver" | "here" | "nothing";
  terminated: string[];
  verifiedFiles: number;
  forced: boolean;
}

export async function downJob(job: JobRecord, o: DownOptions): Promise<DownResult> {
  const c = readCloudFile(job.job_dir);
  if (!c) throw new KilnError("not_cloud_job", `${job.name} (${job.id}) ran on this machine; use \`kiln stop ${job.id}\``);
  if (isJobAlive(job)) {
    process.kill(job.supervisor_pid!, "SIGTERM");
    await pollUntil(async () => (isTerminal(o.ledger.getJob(job.id)!.state) ? true : undefined), {
      what: `the driver of ${job.id} to checkpoint, pull, verify and terminate`,
      timeoutMs: c.stopGraceMs + c.terminate.timeoutMs + 600_000,
      intervalMs: 200,
      signal: o.signal,
    });
    const machines = o.ledger.listMachines(job.id);
    return { how: "driver", terminated: machines.filter((m) => m.state === "terminated" && m.provider_id).map((m) => m.provider_id!), verifiedFiles: o.ledger.listArtifacts(job.id).filter((a) => a.verified_at).length, forced: false };
  }
  if (c.sim) {
    reconcileSimulated({ ledger: o.ledger, paths: o.paths, env: o.env, logger: o.logger, signal: o.signal, mode: "act", holder: "kiln down" }, emptyReport());
    return { how: "nothing", terminated: [], verifiedFiles: 0, forced: false };
  }
  const lock = lockJobOrFail(o.ledger, job.id, "kiln down");
  try {
    return await downHere(job, c, o);
  } finally {
    lock.release();
  }
}

async function downHere(job: JobRecord, c: CloudFile, o: DownOptions): Promise<DownResult> {
  const out: DownResult = { how: "nothing", terminated: [], verifiedFiles: 0, forced: o.force };
  // A job that failed over or recovered across providers has machines on each: every one is reached through its own.
  const names = [...new Set(o.ledger.listMachines(job.id).filter(isOpenMachine).map((m) => m.provider))];
  if (names.length > 0) {
    const key = privateKeyFor(o.paths.keys, c.keyPath, c.specDir);
    for (const name of names) await downOnProvider(job, c, o, name, key.privateKey, out);
  }
  const r = emptyReport();
  closeDeadJob(o.ledger, job.id, r);
  return out;
}

async function downOnProvider(job: JobRecord, c: CloudFile, o: DownOptions, name: string, privateKey: Buffer, out: DownResult): Promise<void> {
  // Provider ssh: the user's host, reached with the job's key (no API, nothing to credential).
  const hostP = providerNamed(name).kind === "host" && c.ssh ? hostProvider(name, c.ssh, { privateKey, knownHostsFile: o.paths.knownHosts, logger: o.logger, connectTimeoutMs: hostConnectTimeoutMs(o.env) }) : undefined;
  const provider: Provider = hostP ?? (await requireCloud(name, { env: o.env, credentialsPath: o.paths.credentials, logger: o.logger })).provider;
  try {
    await resolveIntents(provider, job, o);
    const open = o.ledger.listMachines(job.id).filter((m) => m.provider === name && isOpenMachine(m) && m.provider_id !== null);
    if (open.length > 0) out.how = "here";
    for (const row of open) await downMachine(job, c, o, provider, privateKey, row, out);
  } finally {
    await hostP?.close();
  }
}

/** Stop the run, verify its outputs here (unless --force), then terminate and confirm one machine. */
async function downMachine(job: JobRecord, c: CloudFile, o: DownOptions, provider: Provider, privateKey: Buffer, row: MachineLedgerRecord, out: DownResult): Promise<void> {
  const m = await provider.describe(row.provider_id!, o.signal).catch((e: unknown) => {
    // A user's host that is gone for good would otherwise hold its job open forever.
    if (o.force && c.ssh) return undefined;
    throw e;
  });
  if (!m) {
    const why = `kiln down --force: ${c.ssh!.user}@${c.ssh!.host}:${c.ssh!.port} unreachable; closed without stopping the run or verifying artifacts (Kiln's marker may remain in ~/.kiln/machines there)`;
    o.ledger.addEvent({ jobId: job.id, machineId: row.id, kind: "warning", reason: why });
    o.ledger.markMachineTerminated(row.id, why);
    out.terminated.push(row.provider_id!);
    return;
  }
  const conn =
    m.state === "running" && m.ssh
      ? await connectMachine({ ...m, ssh: m.ssh }, { privateKey, knownHostsFile: o.paths.knownHosts, timeoutMs: 60_000, signal: o.signal, logger: o.logger, ...(c.ssh && { hostKeyAlias: null }) }).catch((e: unknown) => {
          if (!o.force) throw e;
          // --force: the user chose to end the billing even though nobody can get in to save the outputs.
          o.ledger.addEvent({ jobId: job.id, machineId: row.id, kind: "warning", reason: `kiln down --force: ${m.id} could not be reached (${errorMessage(e)}); terminated without stopping the run or saving its outputs` });
          return undefined;
        })
      : undefined;
  if (conn) {
    try {
      const rp = remotePaths(await remoteHome(conn), job.id);
      await stopRun(conn, rp.run, { graceMs: c.stopGraceMs });
      await stopWatchdog(conn, rp.watchdog);
      if (o.force) {
        o.ledger.addEvent({ jobId: job.id, machineId: row.id, kind: "warning", reason: "kiln down --force: terminated without verifying artifacts" });
      } else {
        // Throws artifacts-unverified (the machine is kept) when the copy cannot be verified.
        const safe = await assertSafeToTearDown({ conn, remoteDir: `${rp.job}/outputs`, localDir: jobLayout(o.paths.jobs, job.id).outputs, pullCommand: `kiln down ${job.id}`, signal: o.signal });
        for (const e of safe.manifest) o.ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: true });
        out.verifiedFiles += safe.verified;
      }
    } finally {
      conn.close();
    }
  } else if (!o.force && m.state !== "terminated") {
    throw new KilnError("artifacts-unverified", `${m.id} is ${m.providerState} and cannot be reached to verify its artifacts; the machine is kept. Retry later, or pass --force to tear it down anyway`);
  }
  const consoleUrl = providerNamed(row.provider).consoleUrl;
  await terminateAndConfirm(provider, o.ledger, o.ledger.getMachine(row.id)!, o.force ? "kiln down --force" : "kiln down (artifacts verified)", { ...terminateSettings(o.env), signal: o.signal, logger: o.logger, ...(consoleUrl && { consoleUrl }) });
  out.terminated.push(m.id);
}

/**
 * Intents whose provider id was never recorded (the launch reply was lost, or the driver died right
 * after the call): look the machine up by its name and adopt it, so it is torn down like the rest. One
 * that is not listed is closed as never launched only once the provider's listing lag has passed.
 */
async function resolveIntents(provider: Provider, job: JobRecord, o: DownOptions): Promise<void> {
  const intents = o.ledger.listMachines(job.id).filter((m) => m.provider === provider.name && isOpenMachine(m) && m.provider_id === null);
  if (intents.length === 0) return;
  const listed = await provider.listMachines(o.signal);
  const lagMs = Number(o.env["KILN_LISTING_LAG_MS"] ?? "") || providerNamed(provider.name).listingLagMs;
  for (const row of intents) {
    const m = listed.find((x) => x.intentId === row.intent_id);
    if (m) {
      o.ledger.markMachineLaunched(row.id, m.id, m.providerState, row.created_at);
      o.ledger.addEvent({ jobId: job.id, machineId: row.id, kind: "adopt", reason: `kiln down found ${m.id} by its name kiln-${row.intent_id} (its id was never recorded)` });
    } else if (Date.now() - Date.parse(row.created_at) >= lagMs) {
      o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `kiln down: no machine named kiln-${row.intent_id} is listed ${Math.round(lagMs / 1000)} s after the launch was sent`);
    } else {
      throw new UserError(`job ${job.id} sent a launch ${Math.round((Date.now() - Date.parse(row.created_at)) / 1000)} s ago that ${provider.name} does not list yet`, {
        hint: `listings can lag; run \`kiln down ${job.id}\` again in a minute (the machine, if it exists, is named kiln-${row.intent_id})`,
      });
    }
  }
}

/**
 * The cloud driver: one job's whole lifecycle, run by a detached process (./driver-main.ts) so it has the
 * job's KILN_JOB_ID (liveness) and survives the terminal. The job is a sequence of attempts (./attempt.ts),
 * each a machine and a run driven as named steps. When the cloud takes a machine away (preempted or lost)
 * and the job has restarts left, the next attempt launches on the next offer (the next region first, then
 * any allowed provider) and resumes from the newest verified checkpoint (./recovery.ts). The job keeps its
 * id; the budget cap is the job's, across attempts. The machine is never left running by a driver that is
 * alive, and never torn down before its outputs are saved.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError, errorMessage } from "../../base/errors.js";
import { providerNamed } from "../../providers/registry.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import { type JobState, Ledger } from "../../store/index.js";
import { totalCost } from "../cost/index.js";
import { kilnPaths } from "../home.js";
import { jobLayout } from "../job/layout.js";
import { tryLockJob } from "../jobs/lock.js";
import { loadJobSpec } from "../spec/index.js";
import { runAttempt } from "./attempt.js";
import type { AttemptEnd, DriveOptions, JobContext } from "./attempt-context.js";
import { providersOf, readCloudFile } from "./cloud-file.js";
import { CloudPool } from "./clouds.js";
import { crashPoint } from "./crash.js";
import { readPreparedJob } from "./prepare.js";
import { recoveryDecision, recoveryOrder } from "./recovery.js";
import { writeRemoteReport } from "./report.js";

export type { DriveOptions } from "./attempt-context.js";
export { sshKeyNameFor } from "./ssh-key-name.js";

export async function driveCloudJob(jobDir: string, o: DriveOptions): Promise<JobState> {
  const t0 = Date.now();
  const paths = kilnPaths(o.env);
  const c = readCloudFile(jobDir);
  if (!c) throw new KilnError("cloud_file", `${jobDir} has no cloud.json`);
  const ledger = Ledger.open(paths.ledger);
  // The driver is its job's recoverer for its whole life: `kiln down`/`gc`/`status --refresh` leave it alone.
  const lock = tryLockJob(ledger, c.jobId, "the job's driver");
  if (!lock.ok) {
    ledger.close();
    throw new KilnError("job_locked", `job ${c.jobId} is being recovered by another Kiln process: ${lock.why}`);
  }
  let job: JobContext | undefined;
  let final: { state: JobState; reason: string } = { state: "failed", reason: "the driver did not start" };
  let last: AttemptEnd | undefined;
  try {
    job = await openJob(jobDir, c, ledger, paths, o, t0);
    ledger.transitionJob(c.jobId, "running", `driving on ${providersOf(c).join(", ")}${c.sim ? " (simulated)" : ""}`);
    last = await runAttempts(job);
    final = jobStateOf(last, c.jobId);
  } catch (e) {
    final = { state: "failed", reason: errorMessage(e) };
  } finally {
    // Before the job's end is recorded: whoever follows the job reads the simulated bill as soon as it ends.
    if (job) {
      const billed = await job.clouds.closeAll();
      if (Object.keys(billed).length > 0) writeFileSync(join(jobDir, "sim-billing.json"), `${JSON.stringify(Object.keys(billed).length === 1 ? Object.values(billed)[0] : billed, null, 2)}\n`);
    }
    ledger.transitionJob(c.jobId, final.state, final.reason);
    if (job && last?.report) writeReport(job, last.report);
    lock.release();
    ledger.close();
  }
  o.onMilestone?.("closed", Date.now() - t0);
  return final.state;
}

async function openJob(jobDir: string, c: NonNullable<ReturnType<typeof readCloudFile>>, ledger: Ledger, paths: ReturnType<typeof kilnPaths>, o: DriveOptions, t0: number): Promise<JobContext> {
  const layout = jobLayout(paths.jobs, c.jobId);
  const spec = await loadJobSpec(layout.spec);
  const key = privateKeyFor(paths.keys, c.keyPath, c.specDir);
  return {
    c,
    o,
    paths,
    layout,
    jobDir,
    ledger,
    spec,
    key,
    prepared: readPreparedJob(jobDir),
    clouds: new CloudPool(c, { env: o.env, logger: o.logger, paths, privateKey: key.privateKey }),
    isHost: providerNamed(c.provider).kind === "host",
    blockedProviders: new Set(),
    mark: (name) => o.onMilestone?.(name, Date.now() - t0),
  };
}

/** Attempts until one ends in a way that is not recovered (or the restarts or the budget run out). */
async function runAttempts(job: JobContext): Promise<AttemptEnd> {
  const { c, ledger, o } = job;
  const maxRestarts = c.maxRestarts ?? job.spec.resources.max_restarts;
  let offers = c.offers;
  for (let restarts = 0; ; restarts++) {
    const end = await runAttempt(job, offers);
    const budgetLeft = c.budget.maxUsd - totalCost(ledger.listMachines(c.jobId), Date.now());
    let d = recoveryDecision(end, restarts, maxRestarts, o.signal.aborted);
    if (d.recover && budgetLeft <= 0) d = { recover: false, why: `the budget is spent ($${c.budget.maxUsd.toFixed(2)})` };
    if (d.recover) {
      offers = recoveryOrder(c.offers, end.offer, job.blockedProviders);
      if (offers.length === 0) d = { recover: false, why: "no allowed offer is left to recover on" };
    }
    if (!d.recover) {
      if (end.state === "preempted" || end.state === "lost") ledger.addEvent({ jobId: c.jobId, kind: "recovery", reason: `not recovering: ${d.why}` });
      return end;
    }
    ledger.addEvent({ jobId: c.jobId, kind: "recovery", reason: `${end.reason}; recovering (${d.why}) on ${offers[0]!.provider} ${offers[0]!.instanceType} in ${offers[0]!.region} first`, data: { restart: restarts + 1, maxRestarts } });
    o.logger.warn(`attempt ended ${end.state}: ${end.reason}; recovering (${d.why})`);
    crashPoint("before-recovery", o.env);
  }
}

function jobStateOf(end: AttemptEnd, jobId: string): { state: JobState; reason: string } {
  if (end.state === "succeeded" || end.state === "stopped" || end.state === "failed") return { state: end.state, reason: end.reason };
  // A machine taken away and not replaced: what was saved stays, and `kiln run --resume` continues it.
  return { state: "failed", reason: `${end.reason}; not recovered (\`kiln run --resume ${jobId}\` continues from the newest saved checkpoint)` };
}

function writeReport(job: JobContext, r: NonNullable<AttemptEnd["report"]>): void {
  try {
    writeRemoteReport(job.ledger, { cloud: job.c, jobDir: job.jobDir, steps: r.steps, remoteJobDir: r.remoteJobDir, machine: r.machine, planReason: job.ledger.getJob(job.c.jobId)?.plan_reason ?? "" });
  } catch (e) {
    // The job's outcome stands without its report; `kiln report` can rebuild it.
    job.o.logger.warn(`report not written: ${errorMessage(e)}`);
  }
}

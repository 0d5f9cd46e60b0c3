/**
 * `kiln run --resume JOB` for a cloud job: a new attempt on a new machine, from the job's newest verified
 * checkpoint (the outputs the syncs pulled here, which the restore step puts on the machine). The job keeps
 * its id, its ledger history and its budget (spent so far counts against the cap). The offers are the ones
 * planned at submit, in their order; the driver is the same one `kiln run --provider` starts.
 */
import { UserError } from "../../base/errors.js";
import { type JobRecord, type Ledger, isTerminal } from "../../store/index.js";
import { totalCost } from "../cost/index.js";
import { isJobAlive, isOpenMachine } from "../reconcile/index.js";
import { readCloudFile } from "./cloud-file.js";
import { spawnDriver } from "./submit.js";

export function resumeCloudJob(ledger: Ledger, job: JobRecord, env: NodeJS.ProcessEnv): { job: JobRecord; driverPid: number } {
  const c = readCloudFile(job.job_dir);
  if (!c) throw new UserError(`job ${job.name} (${job.id}) ran on this computer`, { hint: `\`kiln run --resume ${job.id}\` resumes it here` });
  if (!isTerminal(job.state) || isJobAlive(job)) throw new UserError(`job ${job.name} (${job.id}) is ${job.state} and its driver is alive`, { hint: `follow it with \`kiln status ${job.id}\`` });
  if (job.state === "succeeded") throw new UserError(`job ${job.name} (${job.id}) already succeeded; nothing to resume`, { hint: `see \`kiln report ${job.id}\`` });
  const open = ledger.listMachines(job.id).filter(isOpenMachine);
  if (open.length > 0) {
    // A kept machine holds outputs not saved here: resuming elsewhere would start from older work and bill twice.
    throw new UserError(`job ${job.name} (${job.id}) still has a machine (${open.map((m) => m.provider_id ?? m.intent_id).join(", ")}) whose outputs are not saved here`, {
      hint: `\`kiln down ${job.id}\` saves them and terminates it; then \`kiln run --resume ${job.id}\``,
    });
  }
  const spent = totalCost(ledger.listMachines(job.id), Date.now());
  if (spent >= c.budget.maxUsd) {
    throw new UserError(`job ${job.name} (${job.id}) has spent $${spent.toFixed(2)} of its $${c.budget.maxUsd.toFixed(2)} cap`, {
      hint: `raise budget.max_usd in a copy of its spec and run that instead (its checkpoints are in ${job.job_dir}/outputs)`,
    });
  }
  // Back to "created" before the driver starts, so a follower never mistakes the old terminal state for the end.
  const queued = ledger.transitionJob(job.id, "created", `kiln run --resume (was ${job.state}; $${spent.toFixed(2)} of $${c.budget.maxUsd.toFixed(2)} spent)`);
  const driverPid = spawnDriver(env, job.id, job.job_dir);
  ledger.setProcesses(job.id, { supervisorPid: driverPid });
  return { job: queued, driverPid };
}

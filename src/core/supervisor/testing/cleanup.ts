/**
 * Test helper: SIGKILL every supervisor and workload process group still alive for the jobs in a
 * ledger, so a failed or timed-out test never leaves a detached job burning CPU on a shared machine.
 * Only processes that carry the job's KILN_JOB_ID are touched (see isJobProcess).
 */
import { existsSync } from "node:fs";
import { Ledger } from "../../../store/index.js";
import { isJobProcess, signalGroup } from "../process.js";

export function killJobProcesses(ledgerPath: string): number {
  if (!existsSync(ledgerPath)) return 0;
  const ledger = Ledger.open(ledgerPath);
  let killed = 0;
  try {
    for (const job of ledger.listJobs()) {
      if (isJobProcess(job.workload_pid, job.id) && signalGroup(job.workload_pid!, "SIGKILL")) killed++;
      if (isJobProcess(job.supervisor_pid, job.id) && signalGroup(job.supervisor_pid!, "SIGKILL")) killed++;
    }
  } finally {
    ledger.close();
  }
  return killed;
}

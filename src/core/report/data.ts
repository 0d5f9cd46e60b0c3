/**
 * Everything the report shows, gathered from the ledger (where, why, timeline, cost, artifacts) and
 * from the job's metrics files (curves, final metrics, the PII detector's scores).
 */
import type { ArtifactRecord, AttemptRecord, EventRecord, JobRecord, Ledger, MachineLedgerRecord } from "../../store/index.js";
import { machineCost, totalCost } from "../cost/index.js";
import type { RunFile } from "../job/run-file.js";
import { JobProgress } from "../monitor/progress.js";
import { MetricsReader } from "../monitor/reader.js";

export interface ReportData {
  job: JobRecord;
  run: RunFile;
  machines: (MachineLedgerRecord & { costUsd: number })[];
  /** Each try at the job on one machine (a cloud job recovers onto new ones), with its machines' billed cost. */
  attempts: (AttemptRecord & { costUsd: number })[];
  events: EventRecord[];
  artifacts: ArtifactRecord[];
  progress: JobProgress;
  totalUsd: number;
  generatedAt: string;
}

export function gatherReport(ledger: Ledger, jobId: string, run: RunFile, nowMs: number = Date.now()): ReportData {
  const job = ledger.getJob(jobId);
  if (!job) throw new Error(`no job ${jobId} in the ledger`);
  const progress = new JobProgress();
  for (const s of run.steps) if (s.metrics) progress.apply(new MetricsReader(s.metrics).read().lines);
  const machines = ledger.listMachines(jobId);
  return {
    job,
    run,
    machines: machines.map((m) => ({ ...m, costUsd: machineCost(m, nowMs) })),
    attempts: ledger.listAttempts(jobId).map((a) => ({ ...a, costUsd: totalCost(machines.filter((m) => m.attempt_id === a.id), nowMs) })),
    events: ledger.listEvents(jobId),
    artifacts: ledger.listArtifacts(jobId),
    progress,
    totalUsd: totalCost(machines, nowMs),
    generatedAt: new Date(nowMs).toISOString(),
  };
}

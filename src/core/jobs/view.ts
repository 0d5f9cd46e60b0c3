/**
 * Read-only views for `kiln status` and `kiln cost`: each job with its state, progress, elapsed time
 * and cost, computed from the ledger and the job's metrics files.
 */
import { existsSync } from "node:fs";
import type { JobRecord, Ledger, MachineLedgerRecord } from "../../store/index.js";
import { machineCost, totalCost } from "../cost/index.js";
import { jobLayout, readRunFile } from "../job/index.js";
import { JobProgress } from "../monitor/progress.js";
import { MetricsReader } from "../monitor/reader.js";

export interface JobView {
  id: string;
  name: string;
  kind: string;
  state: JobRecord["state"];
  createdAt: string;
  endedAt: string | null;
  elapsedS: number;
  provider: string | null;
  costUsd: number;
  maxUsd: number | undefined;
  progress: { fraction: number | undefined; step: number | undefined; loss: number | null | undefined; tokens: number | undefined };
  machines: (Pick<MachineLedgerRecord, "provider" | "provider_id" | "state" | "price_per_hour" | "launched_at" | "terminated_at"> & { costUsd: number })[];
  /** Each try at running the job: where, how it ended and what its machines cost. */
  attempts: { n: number; provider: string; state: string; step: string | null; startedAt: string; endedAt: string | null; reason: string | null; costUsd: number }[];
  /** Attempts that ended because the machine was reclaimed or lost, and were followed by another. */
  recoveryCount: number;
}

export function progressOf(jobsDir: string, jobId: string): JobProgress {
  const p = new JobProgress();
  const runFile = jobLayout(jobsDir, jobId).runFile;
  if (!existsSync(runFile)) return p;
  for (const s of readRunFile(runFile).steps) if (s.metrics) p.apply(new MetricsReader(s.metrics).read().lines);
  return p;
}

export function jobView(ledger: Ledger, jobsDir: string, job: JobRecord, nowMs: number): JobView {
  const machines = ledger.listMachines(job.id);
  const attempts = ledger.listAttempts(job.id);
  const p = progressOf(jobsDir, job.id);
  const t = p.latestTrain();
  let maxUsd: number | undefined;
  try {
    maxUsd = readRunFile(jobLayout(jobsDir, job.id).runFile).budget.maxUsd;
  } catch {
    maxUsd = undefined;
  }
  return {
    id: job.id,
    name: job.name,
    kind: job.kind,
    state: job.state,
    createdAt: job.created_at,
    endedAt: job.ended_at,
    elapsedS: Math.max(0, ((job.ended_at ? Date.parse(job.ended_at) : nowMs) - Date.parse(job.created_at)) / 1000),
    provider: machines.at(-1)?.provider ?? null,
    costUsd: totalCost(machines, nowMs),
    maxUsd,
    progress: { fraction: p.fraction(), step: t?.step, loss: t?.loss, tokens: t?.tokens },
    machines: machines.map((m) => ({ provider: m.provider, provider_id: m.provider_id, state: m.state, price_per_hour: m.price_per_hour, launched_at: m.launched_at, terminated_at: m.terminated_at, costUsd: machineCost(m, nowMs) })),
    attempts: attempts.map((a) => ({ n: a.n, provider: a.provider, state: a.state, step: a.step, startedAt: a.started_at, endedAt: a.ended_at, reason: a.reason, costUsd: totalCost(machines.filter((m) => m.attempt_id === a.id), nowMs) })),
    recoveryCount: attempts.filter((a, i) => i < attempts.length - 1 && (a.state === "preempted" || a.state === "lost")).length,
  };
}

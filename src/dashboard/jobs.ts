/**
 * The numbers the jobs table, the job page's header and /metrics show, computed from the ledger (state,
 * attempts, machines, cost) and the job's own files (its cap and alert thresholds from run.json or
 * cloud.json, its curves from the metrics files). Read-only: unlike `kiln status`, the dashboard never
 * reconciles; a job whose driver died is shown as such ("driver gone") and left to the commands that act.
 *
 * Cost follows src/core/cost (billed from launch to confirmed termination), and the projection follows
 * the cloud monitor's rule: spent + the open machines' price × the workload's ETA.
 */
import { z } from "zod";
import { machineCost, totalCost } from "../core/cost/index.js";
import { jobLayout, readRunFile } from "../core/job/index.js";
import { readCloudFile } from "../core/lifecycle/cloud-file.js";
import { isJobAlive, isOpenMachine } from "../core/reconcile/index.js";
import { type AttemptRecord, type JobRecord, type Ledger, type MachineLedgerRecord, isTerminal } from "../store/index.js";
import type { JobMetrics, Latest, MetricsCache } from "./metrics-cache.js";

/** What the job was planned with: its cap and alert thresholds, where it was meant to run. */
export interface JobPlan {
  cloud: boolean;
  capUsd: number | undefined;
  alertFractions: number[];
  gpu: string | undefined;
}

export interface JobSummary {
  job: JobRecord;
  provider: string | null;
  gpu: string | null;
  /** The newest attempt: its number, how many there were, the step it is in or ended in. */
  attempt: { n: number; of: number; state: string; step: string | null } | null;
  elapsedS: number;
  etaS: number | undefined;
  fraction: number | undefined;
  spentUsd: number;
  capUsd: number | undefined;
  /** Spent plus what the open machines will bill until the ETA; the spend itself once the job has ended. */
  projectedUsd: number | undefined;
  alertFractions: number[];
  /** A non-terminal job whose supervisor or driver process is gone (`kiln status --refresh` settles it). */
  driverGone: boolean;
  latest: Latest | undefined;
}

// Offers are stored as the provider gave them; only these fields are read, each optional.
const OfferFields = z.looseObject({ gpu: z.string().optional(), gpuCount: z.number().optional(), instanceType: z.string().optional(), region: z.string().optional() });
export type OfferFields = z.infer<typeof OfferFields>;

export function offerOf(m: MachineLedgerRecord): OfferFields {
  try {
    const r = OfferFields.safeParse(JSON.parse(m.offer_json));
    return r.success ? r.data : {};
  } catch {
    return {};
  }
}

/** A cloud job's cloud.json or a local job's run.json; a job with neither (or a damaged one) has no cap to show. */
export function readPlan(jobsDir: string, job: JobRecord): JobPlan {
  try {
    const c = readCloudFile(job.job_dir);
    if (c) return { cloud: true, capUsd: c.budget.maxUsd, alertFractions: [...c.budget.alertFractions], gpu: c.offers[0]?.gpu };
  } catch {
    // Damaged cloud.json: shown without a cap rather than failing the page.
    return { cloud: true, capUsd: undefined, alertFractions: [], gpu: undefined };
  }
  try {
    const r = readRunFile(jobLayout(jobsDir, job.id).runFile);
    return { cloud: false, capUsd: r.budget.maxUsd, alertFractions: [...r.budget.alertFractions], gpu: r.machine.gpu };
  } catch {
    return { cloud: false, capUsd: undefined, alertFractions: [], gpu: undefined };
  }
}

/** Everything one summary needs, fetched once for many jobs (1,000 jobs: three queries, not 3,000). */
export interface LedgerSnapshot {
  machinesByJob: Map<string, MachineLedgerRecord[]>;
  attemptsByJob: Map<string, AttemptRecord[]>;
}

function group<T>(rows: readonly T[], key: (r: T) => string | null): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    if (k === null) continue;
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

export function snapshot(ledger: Ledger): LedgerSnapshot {
  return { machinesByJob: group(ledger.listMachines(), (m) => m.job_id), attemptsByJob: group(ledger.listAllAttempts(), (a) => a.job_id) };
}

/** The same, for one job's page. */
export function snapshotOf(ledger: Ledger, jobId: string): LedgerSnapshot {
  return { machinesByJob: new Map([[jobId, ledger.listMachines(jobId)]]), attemptsByJob: new Map([[jobId, ledger.listAttempts(jobId)]]) };
}

/** Remaining seconds: the workload's own ETA, else the pace of the train phase so far. */
function etaOf(m: JobMetrics | undefined, nowMs: number): number | undefined {
  if (!m?.latest) return undefined;
  if (m.latest.etaS !== null) return m.latest.etaS;
  const f = m.fraction();
  const start = m.starts.filter((s) => s.phase === "train").at(-1)?.ts;
  if (f === undefined || f <= 0 || start === undefined) return undefined;
  return ((nowMs / 1000 - start) * (1 - f)) / f;
}

export interface SummaryContext {
  jobsDir: string;
  metrics: MetricsCache;
  plans: Map<string, JobPlan>;
  nowMs: number;
  /** Read an ended job's curves too (its own page shows its last values; the table does not need them). */
  endedMetrics?: boolean;
}

export function summarize(job: JobRecord, snap: LedgerSnapshot, ctx: SummaryContext): JobSummary {
  let plan = ctx.plans.get(job.id);
  if (!plan) {
    plan = readPlan(ctx.jobsDir, job);
    ctx.plans.set(job.id, plan);
  }
  const machines = snap.machinesByJob.get(job.id) ?? [];
  const attempts = snap.attemptsByJob.get(job.id) ?? [];
  const live = !isTerminal(job.state);
  // Only a live job's curves move; an ended job's table row needs none of them (its projection is its spend).
  const m = live || ctx.endedMetrics ? ctx.metrics.get(job.id, job.job_dir) : undefined;
  const spent = totalCost(machines, ctx.nowMs);
  const eta = live ? etaOf(m, ctx.nowMs) : undefined;
  const openPrice = machines.filter(isOpenMachine).reduce((s, x) => s + x.price_per_hour, 0);
  const lastMachine = machines.filter((x) => x.launched_at !== null).at(-1) ?? machines.at(-1);
  const lastAttempt = attempts.at(-1);
  return {
    job,
    provider: lastMachine?.provider ?? lastAttempt?.provider ?? null,
    gpu: (lastMachine && offerOf(lastMachine).gpu) ?? plan.gpu ?? null,
    attempt: lastAttempt ? { n: lastAttempt.n, of: attempts.length, state: lastAttempt.state, step: lastAttempt.step } : null,
    elapsedS: Math.max(0, ((job.ended_at ? Date.parse(job.ended_at) : ctx.nowMs) - Date.parse(job.created_at)) / 1000),
    etaS: eta,
    fraction: m?.fraction(),
    spentUsd: spent,
    capUsd: plan.capUsd,
    projectedUsd: !live ? spent : eta === undefined ? undefined : spent + (openPrice * eta) / 3600,
    alertFractions: plan.alertFractions,
    driverGone: live && !isJobAlive(job),
    latest: m?.latest,
  };
}

/** Billed cost of each machine, for the machines page and the job's attempts. */
export const billed = (m: MachineLedgerRecord, nowMs: number): number => machineCost(m, nowMs);

/**
 * An orphan: a machine the ledger still holds open whose job is gone, ended, or has no live driver, so
 * nothing is watching it and it may be billing. `kiln gc` / `kiln status --refresh` / `kiln down` settle it.
 */
export function isOrphan(m: MachineLedgerRecord, job: JobRecord | undefined): boolean {
  if (!isOpenMachine(m)) return false;
  return job === undefined || !isJobAlive(job);
}

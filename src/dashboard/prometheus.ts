/**
 * GET /metrics in the Prometheus text exposition format (version 0.0.4): per job its state, throughput,
 * loss, L0, explained variance, spend and cap; per machine its state and price; counters of launches,
 * failovers, preemptions and orphans reaped, counted from the ledger (so they survive restarts of the
 * dashboard, as counters derived from durable events should).
 *
 * Names follow Prometheus conventions: a `kiln_` prefix, base units in the name (`_dollars`,
 * `_seconds`, `_ratio`), `_total` only on counters. A job's latest training values are read from its
 * metrics files; an ended job's are read once and kept (they cannot change until it is resumed).
 */
import { isOpenMachine } from "../core/reconcile/index.js";
import { JOB_STATES, type JobRecord, isTerminal } from "../store/index.js";
import type { DashboardContext } from "./context.js";
import { type JobSummary, snapshot, summarize } from "./jobs.js";
import type { Latest } from "./metrics-cache.js";

type Labels = Record<string, string>;
interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: { labels: Labels; value: number }[];
}

const escLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

export function renderFamilies(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escLabel(v)}"`);
      out.push(`${f.name}${labels.length > 0 ? `{${labels.join(",")}}` : ""} ${formatValue(s.value)}`);
    }
  }
  return `${out.join("\n")}\n`;
}

/** Latest train values of ended jobs, keyed by id and end time (a resumed job ends again, later). */
export type FinalValues = Map<string, { endedAt: string | null; latest: Latest | undefined }>;

function latestOf(ctx: DashboardContext, job: JobRecord, s: JobSummary, finals: FinalValues): Latest | undefined {
  if (!isTerminal(job.state)) return s.latest;
  const kept = finals.get(job.id);
  if (kept && kept.endedAt === job.ended_at) return kept.latest;
  const latest = ctx.metrics.get(job.id, job.job_dir).latest;
  finals.set(job.id, { endedAt: job.ended_at, latest });
  return latest;
}

export function prometheusText(ctx: DashboardContext, finals: FinalValues): string {
  const now = ctx.now();
  const jobs = ctx.ledger.listJobs();
  const snap = snapshot(ctx.ledger);
  const fam = (name: string, type: Family["type"], help: string): Family => ({ name, type, help, samples: [] });
  const state = fam("kiln_job_state", "gauge", "1 for the state the job is in, 0 for the others.");
  const tps = fam("kiln_job_tokens_per_second", "gauge", "Training throughput at the latest train line.");
  const loss = fam("kiln_job_loss", "gauge", "SAE training loss at the latest train line.");
  const l0 = fam("kiln_job_l0_latents", "gauge", "Active latents per token (L0) at the latest train line.");
  const ev = fam("kiln_job_explained_variance_ratio", "gauge", "Explained variance at the latest train line.");
  const gpuUtil = fam("kiln_job_gpu_utilization_ratio", "gauge", "Fraction of the last NVML sample period the GPU was busy, at the latest train line (absent on CPU).");
  const gpuMem = fam("kiln_job_gpu_memory_bytes", "gauge", "Peak GPU memory allocated by the trainer, at the latest train line (absent on CPU).");
  const spent = fam("kiln_job_spend_dollars", "gauge", "Billed cost of every machine of the job so far, in US dollars.");
  const cap = fam("kiln_job_budget_cap_dollars", "gauge", "The job's budget cap (budget.max_usd), in US dollars.");
  const elapsed = fam("kiln_job_elapsed_seconds", "gauge", "Seconds since the job was created, until it ended.");
  for (const job of jobs) {
    const s = summarize(job, snap, { jobsDir: ctx.paths.jobs, metrics: ctx.metrics, plans: ctx.plans, nowMs: now });
    const id = { job: job.id, name: job.name };
    for (const st of JOB_STATES) state.samples.push({ labels: { ...id, state: st }, value: job.state === st ? 1 : 0 });
    const t = latestOf(ctx, job, s, finals);
    const put = (f: Family, v: number | null | undefined) => {
      if (v !== null && v !== undefined) f.samples.push({ labels: id, value: v });
    };
    put(tps, t?.values.tokens_per_s);
    put(loss, t?.values.loss);
    put(l0, t?.values.l0);
    put(ev, t?.values.explained_variance);
    const util = t?.values.gpu_util;
    put(gpuUtil, util === null || util === undefined ? util : util / 100);
    const mem = t?.values.gpu_mem_gb;
    put(gpuMem, mem === null || mem === undefined ? mem : mem * 1e9);
    put(spent, s.spentUsd);
    put(cap, s.capUsd);
    put(elapsed, s.elapsedS);
  }
  const mState = fam("kiln_machine_state", "gauge", "1 for each machine with the state its provider last reported (as the ledger recorded it).");
  const mOpen = fam("kiln_machine_open", "gauge", "1 while the ledger holds the machine open (possibly billing).");
  const mPrice = fam("kiln_machine_price_dollars_per_hour", "gauge", "The machine's billed price, in US dollars per hour.");
  const launches = new Map<string, number>();
  for (const m of ctx.ledger.listMachines()) {
    const labels = { machine: m.provider_id ?? m.intent_id, provider: m.provider, job: m.job_id ?? "" };
    mState.samples.push({ labels: { ...labels, state: m.state }, value: 1 });
    mOpen.samples.push({ labels, value: isOpenMachine(m) ? 1 : 0 });
    mPrice.samples.push({ labels, value: m.price_per_hour });
    if (m.launched_at !== null) launches.set(m.provider, (launches.get(m.provider) ?? 0) + 1);
  }
  const launched = fam("kiln_machine_launches_total", "counter", "Machines launched (the provider accepted the launch), by provider.");
  for (const [provider, n] of launches) launched.samples.push({ labels: { provider }, value: n });
  // A launch event lists the offers that failed before it (data.failures): each is one failover.
  let failovers = 0;
  for (const e of ctx.ledger.listEventsOfKind("launch")) {
    try {
      const d = JSON.parse(e.data_json ?? "{}") as { failures?: unknown };
      if (Array.isArray(d.failures)) failovers += d.failures.length;
    } catch {
      // A launch event without readable data counts no failover.
    }
  }
  const attempts = [...snap.attemptsByJob.values()].flat();
  const counters = [
    launched,
    { ...fam("kiln_failovers_total", "counter", "Offers left for the next one at launch (capacity, quota, refusal)."), samples: [{ labels: {}, value: failovers }] },
    { ...fam("kiln_preemptions_total", "counter", "Attempts that ended because the provider reclaimed the machine."), samples: [{ labels: {}, value: attempts.filter((a) => a.state === "preempted").length }] },
    { ...fam("kiln_orphans_reaped_total", "counter", "Untracked Kiln machines terminated by `kiln gc`."), samples: [{ labels: {}, value: ctx.ledger.listEventsOfKind("gc").length }] },
  ];
  return renderFamilies([state, tps, loss, l0, ev, gpuUtil, gpuMem, spent, cap, elapsed, mState, mOpen, mPrice, ...counters]);
}

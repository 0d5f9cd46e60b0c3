/**
 * The planner: given a job, what this machine has (the GPU probe) and what the clouds sell (offers),
 * decide where to run. Pure — no I/O — so the lifecycle can re-plan after a failover with the same
 * rules. Order: a local GPU that fits; the CPU when the job is tiny; else the offer with the lowest
 * expected total cost (price × (hours + boot)) within the budget and price cap, ties broken by time.
 */
import type { PricedOffer } from "../catalog/offers.js";
import { UserError } from "../../base/errors.js";
import { type GpuInfo, mibToGb } from "../gpu/nvidia-smi.js";
import { canonicalGpuName, gpuModel } from "../gpu/names.js";
import type { GpuProbe } from "../gpu/probe.js";
import { MEMORY_SAVERS, RISKY_FRACTION } from "../preflight/decide.js";
import type { JobSpec } from "../spec/job-spec.js";
import { type Estimate, MFU, estimateSae } from "./estimate.js";

/** Boot, setup and model download before the first step on a fresh cloud machine (runbook: 5-10 min boot). */
export const CLOUD_BOOT_HOURS = 0.25;
/** Spot runs lose work to interruptions and pay a resume on each; priced as 10% more hours. */
export const SPOT_RESTART_FACTOR = 1.1;
/** A job is "small enough for the CPU" (the local demo) when it trains in under this. */
export const CPU_MAX_HOURS = 0.5;
/** torch 2.13's wheels are built for CUDA 12; an older driver cannot run them. */
export const MIN_CUDA = 12;
/** Local GPUs of unknown models: assume a mid-range card rather than nothing. */
const UNKNOWN_GPU_TFLOPS = 50;
/** The runbook's TUMIX result: early stopping saved 51% of compute; we quote half. */
const EARLY_STOP_SAVED_FRACTION = 0.5;

export interface PlanOption {
  kind: "local" | "cpu" | "ssh" | "offer";
  label: string;
  hours: number;
  costUsd: number;
  offer?: PricedOffer;
  localGpus?: GpuInfo[];
  /** Why this option was ruled out; absent for eligible options. */
  excluded?: string;
  chosen: boolean;
}

export interface PlanChoice {
  kind: "local" | "cpu" | "ssh" | "offer";
  offer?: PricedOffer;
  localGpus?: GpuInfo[];
  reason: string;
}

export interface Plan {
  choice: PlanChoice | undefined;
  estimate: {
    vramGb: number;
    vramSource: "estimate" | "spec";
    hoursByGpu: Record<string, number>;
    cpuHours?: number;
    detail?: Estimate;
  };
  considered: PlanOption[];
  savings: { earlyStopping?: { usd: number; note: string }; spot?: { usd: number; offer: PricedOffer; note: string } };
  /** Set when nothing can run within the limits; the message names the numbers. */
  refusal?: string;
  notes: string[];
}

export interface PlanInputs {
  gpuProbe: GpuProbe;
  /** Offers for the job's GPUs, on-demand and spot (the planner applies the spec's spot policy). */
  offers: readonly PricedOffer[];
  /** The GPU probe of `resources.ssh`, when the caller could run it; otherwise the host is verified at start. */
  sshProbe?: GpuProbe;
  datasetBytes?: number;
  cpuCores?: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Decide where a job runs.
 *
 * @example
 *   const plan = planJob(spec, { gpuProbe: await probeGpus(localExec), offers: (await findOffers(q)).offers });
 *   if (plan.refusal) throw new UserError(plan.refusal);
 *   plan.choice?.kind; // "local" | "cpu" | "offer"
 */
export function planJob(spec: JobSpec, inputs: PlanInputs): Plan {
  const notes: string[] = [];
  const { estimate, hoursFor } = sizeJob(spec, inputs, notes);
  const needGb = estimate.vramGb;
  const providers = spec.resources.providers;
  const considered: PlanOption[] = [];

  if (providers.includes("local")) considered.push(...localOptions(spec, inputs.gpuProbe, needGb, hoursFor, estimate.cpuHours));
  if (providers.includes("ssh") && spec.resources.ssh) considered.push(sshOption(spec, inputs.sshProbe, needGb, hoursFor));

  const maxPrice = spec.resources.max_price_per_hour;
  for (const o of inputs.offers) {
    if (!providers.includes(o.provider) || o.gpuCount !== spec.resources.count) continue;
    if (spec.resources.spot === "never" && o.spot) continue;
    const hours = hoursFor(o.gpu) * (o.spot ? SPOT_RESTART_FACTOR : 1);
    const cost = o.pricePerHour * (hours + CLOUD_BOOT_HOURS);
    const opt: PlanOption = { kind: "offer", label: `${o.provider} ${o.instanceType}${o.spot ? " (spot)" : ""}`, hours, costUsd: cost, offer: o, chosen: false };
    if (o.vramGb < needGb) opt.excluded = `${o.vramGb} GB < ${needGb.toFixed(1)} GB needed`;
    else if (maxPrice !== undefined && o.pricePerHour > maxPrice) opt.excluded = `$${o.pricePerHour.toFixed(2)}/h > max_price_per_hour $${maxPrice.toFixed(2)}`;
    else if (spec.budget.max_hours !== undefined && hours > spec.budget.max_hours) opt.excluded = `${hours.toFixed(1)} h > budget.max_hours ${spec.budget.max_hours}`;
    else if (cost > spec.budget.max_usd) opt.excluded = `$${cost.toFixed(2)} > budget $${spec.budget.max_usd.toFixed(2)}`;
    considered.push(opt);
  }

  const choice = choose(spec, considered);
  const risky = considered.find((o) => o.kind === "local" && o.excluded?.endsWith("GB needed"));
  const card = risky?.localGpus?.[0];
  const spend = considered.find((o) => o.chosen)?.costUsd ?? 0;
  if (card && mibToGb(card.memoryTotalMiB) >= RISKY_FRACTION * needGb && spend > 0) {
    // The runbook's "RISKY" row: a card with 60-100% of the need may still fit with memory savers.
    notes.push(
      `the local ${card.name} has ${Math.round((mibToGb(card.memoryTotalMiB) / needGb) * 100)}% of the memory needed; with memory savers (${MEMORY_SAVERS.join(", ")}) it may fit and save ~$${spend.toFixed(2)}`,
    );
  }
  const plan: Plan = { choice, estimate, considered, savings: {}, notes };
  if (!choice) plan.refusal = refusalFor(spec, considered, needGb);
  else plan.savings = savingsFor(spec, considered, inputs.offers, needGb, hoursFor);
  return plan;
}

function sizeJob(spec: JobSpec, inputs: PlanInputs, notes: string[]): { estimate: Plan["estimate"]; hoursFor: (gpu: string) => number } {
  const w = spec.workload;
  const fixed = spec.resources.min_vram_gb;
  if (w.type === "command") {
    // A command workload is opaque: the spec must say how much memory and time it needs.
    if (fixed === "auto") throw specGap("resources.min_vram_gb", "a command workload cannot be sized; set resources.min_vram_gb");
    const hours = spec.budget.max_hours;
    if (hours === undefined) throw specGap("budget.max_hours", "a command workload cannot be timed; set budget.max_hours to price it");
    notes.push(`command workload: priced at budget.max_hours (${hours} h) on every GPU`);
    return { estimate: { vramGb: fixed, vramSource: "spec", hoursByGpu: {} }, hoursFor: () => hours };
  }
  const detail = estimateSae(w.sae, { ...(inputs.datasetBytes !== undefined ? { datasetBytes: inputs.datasetBytes } : {}), ...(inputs.cpuCores ? { cpuCores: inputs.cpuCores } : {}) });
  const vramGb = fixed === "auto" ? Math.ceil(detail.vram.totalGb * 10) / 10 : fixed;
  const hoursFor = (gpu: string) => detail.hoursByGpu[gpu] ?? detail.totalFlops / (UNKNOWN_GPU_TFLOPS * 1e12 * MFU) / 3600;
  return { estimate: { vramGb, vramSource: fixed === "auto" ? "estimate" : "spec", hoursByGpu: detail.hoursByGpu, cpuHours: detail.cpuHours, detail }, hoursFor };
}

const specGap = (path: string, message: string) => new UserError(`${path}: ${message}`, { exitCode: 2 });

function localOptions(spec: JobSpec, probe: GpuProbe, needGb: number, hoursFor: (gpu: string) => number, cpuHours: number | undefined): PlanOption[] {
  const out: PlanOption[] = [];
  const maxHours = spec.budget.max_hours;
  if (probe.kind === "ok") {
    const gpus = [...probe.gpus].sort((a, b) => b.memoryFreeMiB - a.memoryFreeMiB).slice(0, spec.resources.count);
    const freeGb = Math.min(...gpus.map((g) => mibToGb(g.memoryFreeMiB)));
    const name = canonicalGpuName(gpus[0]!.name, gpus[0]!.memoryTotalMiB);
    const hours = name ? hoursFor(name) : hoursFor("unknown");
    const opt: PlanOption = { kind: "local", label: `local ${gpus.map((g) => `#${g.index} ${g.name}`).join(", ")}`, hours, costUsd: 0, localGpus: gpus, chosen: false };
    const cuda = probe.cudaVersion ? Number.parseFloat(probe.cudaVersion) : undefined;
    if (gpus.length < spec.resources.count) opt.excluded = `${probe.gpus.length} GPU(s) < resources.count ${spec.resources.count}`;
    else if (cuda !== undefined && cuda < MIN_CUDA) opt.excluded = `driver supports CUDA ${probe.cudaVersion} < ${MIN_CUDA}.0 (update the NVIDIA driver)`;
    else if (freeGb < needGb) opt.excluded = `${freeGb.toFixed(1)} GB free < ${needGb.toFixed(1)} GB needed`;
    else if (maxHours !== undefined && hours > maxHours) opt.excluded = `${hours.toFixed(1)} h > budget.max_hours ${maxHours}`;
    else if (name === undefined || gpuModel(name) === undefined) opt.label += " (unknown model: time assumes 50 TFLOP/s)";
    out.push(opt);
  }
  // The CPU is listed only when it is plausibly an option, so an 8B job's plan does not carry a
  // thousands-of-hours row (whose number would also change with the machine's core count).
  if (cpuHours !== undefined && cpuHours <= 10 * CPU_MAX_HOURS) {
    const opt: PlanOption = { kind: "cpu", label: "local CPU", hours: cpuHours, costUsd: 0, chosen: false };
    if (cpuHours > CPU_MAX_HOURS) opt.excluded = `too slow for the CPU (> ${CPU_MAX_HOURS} h)`;
    out.push(opt);
  }
  return out;
}

/** The user's own machine: free, and verified by the SSH checklist at start when it was not probed here. */
function sshOption(spec: JobSpec, probe: GpuProbe | undefined, needGb: number, hoursFor: (gpu: string) => number): PlanOption {
  const t = spec.resources.ssh!;
  const label = `ssh ${t.user}@${t.host}:${t.port}`;
  if (probe === undefined) return { kind: "ssh", label: `${label} (not probed; checked at start)`, hours: hoursFor("unknown"), costUsd: 0, chosen: false };
  const [opt] = localOptions(spec, probe, needGb, hoursFor, undefined);
  if (!opt) return { kind: "ssh", label, hours: hoursFor("unknown"), costUsd: 0, excluded: probe.kind === "failed" ? `nvidia-smi failed: ${probe.message}` : "no NVIDIA GPU", chosen: false };
  return { ...opt, kind: "ssh", label: `${label} ${opt.label.replace(/^local /, "")}` };
}

function choose(spec: JobSpec, considered: PlanOption[]): PlanChoice | undefined {
  const ok = considered.filter((o) => o.excluded === undefined);
  const local = ok.find((o) => o.kind === "local");
  const pick = (o: PlanOption, reason: string): PlanChoice => {
    o.chosen = true;
    return { kind: o.kind, ...(o.offer ? { offer: o.offer } : {}), ...(o.localGpus ? { localGpus: o.localGpus } : {}), reason };
  };
  if (local) return pick(local, "a local GPU has enough free memory: no cloud cost");
  const ssh = ok.find((o) => o.kind === "ssh");
  if (ssh) return pick(ssh, "your own machine (resources.ssh): no cloud cost");
  const cpu = ok.find((o) => o.kind === "cpu");
  if (cpu) return pick(cpu, `small enough for the CPU (~${Math.max(1, Math.round(cpu.hours * 60))} min)`);
  let offers = ok.filter((o) => o.kind === "offer");
  if (spec.resources.spot === "prefer" && offers.some((o) => o.offer?.spot)) offers = offers.filter((o) => o.offer?.spot);
  const order = (o: PlanOption) => spec.resources.providers.indexOf(o.offer!.provider);
  offers.sort((a, b) => a.costUsd - b.costUsd || a.hours - b.hours || order(a) - order(b));
  const best = offers[0];
  return best ? pick(best, "lowest expected total cost within the budget") : undefined;
}

function refusalFor(spec: JobSpec, considered: PlanOption[], needGb: number): string {
  const fitting = considered.filter((o) => o.kind === "offer" && !o.excluded?.includes("needed")).sort((a, b) => a.costUsd - b.costUsd);
  const cheapest = fitting[0];
  if (cheapest && cheapest.costUsd > spec.budget.max_usd) {
    return `the cheapest fitting offer (${cheapest.label}, ~${cheapest.hours.toFixed(1)} h) is estimated at $${cheapest.costUsd.toFixed(2)}, over budget.max_usd $${spec.budget.max_usd.toFixed(2)}`;
  }
  if (cheapest) return `no offer fits the limits: ${cheapest.label} is ruled out (${cheapest.excluded})`;
  return `no machine among resources.providers [${spec.resources.providers.join(", ")}] has ${needGb.toFixed(1)} GB of GPU memory per GPU`;
}

function savingsFor(spec: JobSpec, considered: PlanOption[], offers: readonly PricedOffer[], needGb: number, hoursFor: (gpu: string) => number): Plan["savings"] {
  const chosen = considered.find((o) => o.chosen)!;
  const savings: Plan["savings"] = {};
  if (chosen.costUsd === 0) return savings;
  const w = spec.workload;
  if (w.type === "sae-pii" && w.sae.epochs !== undefined) {
    const usd = round2(chosen.offer!.pricePerHour * chosen.hours * EARLY_STOP_SAVED_FRACTION);
    savings.earlyStopping = w.sae.early_stopping
      ? { usd, note: `early stopping is on: if it stops halfway (the runbook's TUMIX saved 51%) the run costs ~$${usd.toFixed(2)} less` }
      : { usd, note: `set workload.sae.early_stopping to save up to ~$${usd.toFixed(2)} (half the epochs; the runbook's TUMIX saved 51%)` };
  }
  // With spot allowed, a cheaper spot offer would already have been chosen; the hint is for "never".
  if (spec.resources.spot === "never") {
    const spot = offers
      .filter((o) => o.spot && spec.resources.providers.includes(o.provider) && o.gpuCount === spec.resources.count && o.vramGb >= needGb)
      .map((o) => ({ o, cost: o.pricePerHour * (hoursFor(o.gpu) * SPOT_RESTART_FACTOR + CLOUD_BOOT_HOURS) }))
      .sort((a, b) => a.cost - b.cost)[0];
    if (spot && spot.cost < chosen.costUsd) {
      const usd = round2(chosen.costUsd - spot.cost);
      savings.spot = {
        usd,
        offer: spot.o,
        note: `spot on ${spot.o.provider} ${spot.o.instanceType} would cost ~$${spot.cost.toFixed(2)} (save ~$${usd.toFixed(2)}); set resources.spot: allowed to use it (checkpoints make interruptions cheap)`,
      };
    }
  }
  return savings;
}

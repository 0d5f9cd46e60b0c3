/**
 * The planner: given a job, what this machine has (the GPU probe) and what the clouds sell (offers),
 * decide where to run. Pure — no I/O — so the lifecycle can re-plan after a failover with the same
 * rules. Order: a local GPU that fits; the CPU when the job is tiny; else the offer with the lowest
 * expected total cost (price × (hours + the provider's boot), spot restarts priced in) within the budget
 * and price cap, ties broken by time. Every offer of the job's providers competes — every GPU model with
 * enough memory, one or more GPUs per machine — and each says why it won or lost (./why.ts).
 */
import type { SpotArithmetic } from "./spot.js";
import type { PricedOffer } from "../catalog/offers.js";
import { UserError } from "../../base/errors.js";
import { type GpuInfo, mibToGb } from "../gpu/nvidia-smi.js";
import { canonicalGpuName, gpuModel } from "../gpu/names.js";
import type { GpuProbe } from "../gpu/probe.js";
import { MEMORY_SAVERS, RISKY_FRACTION } from "../preflight/decide.js";
import { providers as registeredProviders } from "../../providers/registry.js";
import type { JobSpec } from "../spec/job-spec.js";
import { type CapGuarantee, capGuarantee } from "./cap-guarantee.js";
import { DISK_CACHE_READ_GBPS, type Estimate, type MachineSpace, type RunTime, cpuDevice, estimateSae, gpuDevice, runTime } from "./estimate.js";
import { type BootEstimate, DEFAULT_MACHINE_BOOT, SETUP_MINUTES } from "./boot.js";
import { ASSUMED_DISK_GB, type LaunchDisk, type Throughput, type Timer, UNKNOWN_GPU_TFLOPS, priceOffer } from "./offer-option.js";
import { explain } from "./why.js";

export { ASSUMED_DISK_GB, ASSUMED_RAM_PER_VRAM, DISK_OS_GB, type LaunchDisk, offerMachine } from "./offer-option.js";

/**
 * Boot, setup and model download before the first step on a fresh cloud machine of a provider that states no
 * boot time (runbook: 5-10 min boot, plus setup); each provider's own is in ./boot.ts.
 */
export const CLOUD_BOOT_HOURS = (DEFAULT_MACHINE_BOOT.minutes + SETUP_MINUTES) / 60;
/** A job is "small enough for the CPU" (the local demo) when it trains in under this. */
export const CPU_MAX_HOURS = 0.5;
/** torch 2.13's wheels are built for CUDA 12; an older driver cannot run them. */
export const MIN_CUDA = 12;
/** The runbook's TUMIX result: early stopping saved 51% of compute; we quote half. */
const EARLY_STOP_SAVED_FRACTION = 0.5;
export interface PlanOption {
  kind: "local" | "cpu" | "ssh" | "offer";
  label: string;
  hours: number;
  /** SAE workloads: the extraction / SAE split and where the activation cache goes on this machine. */
  time?: RunTime;
  costUsd: number;
  offer?: PricedOffer;
  localGpus?: GpuInfo[];
  /** Why this option was ruled out; absent for eligible options. */
  excluded?: string;
  chosen: boolean;
  /** A spot offer's expected restarts and hours (`kiln plan` prints the arithmetic). */
  spot?: SpotArithmetic;
  /** Cloud offers: the provider's boot and setup, billed before the first step (and again on each restart). */
  boot?: BootEstimate;
  /** Cloud offers: one GPU's datasheet throughput, the MFU applied, and how many of the machine's GPUs train. */
  throughput?: Throughput;
  /** The cost at the offer's worst-case hourly price (a spot bid), when above its price. */
  worstCaseUsd?: number;
  /** Cloud offers: the disk sized at launch for the activation cache, when that beat streaming it (the launch asks for it). */
  launchDisk?: LaunchDisk;
  /** Why this option won or lost, against the choice: time, $/h, cache placement, spot risk, boot. */
  why?: string;
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
  /** What holds at the budget cap with no client, for a chosen cloud offer (see cap-guarantee.ts). */
  cap?: CapGuarantee;
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
  /** RAM and free disk of this machine, for the local GPU and CPU options; assumed like an offer's when absent. */
  localMachine?: { ramGb: number; diskFreeGb: number };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** With spot allowed, one note per listed cloud that sells none, so its on-demand-only rows are explained. */
export function noSpotNotes(spec: Pick<JobSpec, "resources">): string[] {
  if (spec.resources.spot === "never") return [];
  return spec.resources.providers.flatMap((name) => {
    const d = registeredProviders().find((p) => p.name === name);
    return d?.noSpot ? [`no spot on ${name}: ${d.noSpot}`] : [];
  });
}

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
  const { estimate, timer } = sizeJob(spec, inputs, notes);
  const local = localMachine(inputs);
  const hoursFor = (gpu: string, machine: MachineSpace = local) => timer(gpu, machine);
  const needGb = estimate.vramGb;
  const providers = spec.resources.providers;
  const considered: PlanOption[] = [];

  if (providers.includes("local")) considered.push(...localOptions(spec, inputs.gpuProbe, needGb, (gpu) => hoursFor(gpu), estimate.cpuHours !== undefined));
  if (providers.includes("ssh") && spec.resources.ssh) considered.push(sshOption(spec, inputs.sshProbe, needGb, (gpu) => hoursFor(gpu, OWN_MACHINE)));

  for (const o of inputs.offers) {
    const priced = priceOffer(spec, o, needGb, timer);
    if (priced) considered.push({ kind: "offer", ...priced, chosen: false });
  }

  const choice = choose(spec, considered);
  explain(considered);
  const risky = considered.find((o) => o.kind === "local" && o.excluded?.endsWith("GB needed"));
  const card = risky?.localGpus?.[0];
  const spend = considered.find((o) => o.chosen)?.costUsd ?? 0;
  if (card && mibToGb(card.memoryTotalMiB) >= RISKY_FRACTION * needGb && spend > 0) {
    // The runbook's "RISKY" row: a card with 60-100% of the need may still fit with memory savers.
    notes.push(
      `the local ${card.name} has ${Math.round((mibToGb(card.memoryTotalMiB) / needGb) * 100)}% of the memory needed; with memory savers (${MEMORY_SAVERS.join(", ")}) it may fit and save ~$${spend.toFixed(2)}`,
    );
  }
  const chosenOpt = considered.find((o) => o.chosen);
  if (chosenOpt?.time) notes.push(...cacheNotes(chosenOpt, timer));
  notes.push(...noSpotNotes(spec));
  const plan: Plan = { choice, estimate, considered, savings: {}, notes };
  if (!choice) plan.refusal = refusalFor(spec, considered, needGb);
  else plan.savings = savingsFor(spec, considered, inputs.offers, (o) => priceOffer({ ...spec, resources: { ...spec.resources, spot: "allowed" } }, o, needGb, timer));
  const provider = choice?.offer && registeredProviders().find((d) => d.name === choice.offer!.provider);
  if (provider) plan.cap = capGuarantee(spec, provider);
  return plan;
}

/** A machine of the user's not measured here (an unprobed ssh host, or this one in tests): a 32 GB, 100 GB-free workstation. */
const OWN_MACHINE: MachineSpace = { ramGb: 32, diskGb: ASSUMED_DISK_GB, basis: "assumed" };

function localMachine(inputs: PlanInputs): MachineSpace {
  const m = inputs.localMachine;
  return m ? { ramGb: m.ramGb, diskGb: m.diskFreeGb, basis: "this machine" } : OWN_MACHINE;
}

/** What the plan should say about the chosen option's activation cache: a cache that will not fit, or a faster way. */
function cacheNotes(o: PlanOption, timer: Timer): string[] {
  const t = o.time!;
  const c = t.cache;
  const size = `${c.sizeGb.toFixed(0)} GB`;
  if (!c.fits && c.location === "stream") {
    const assumed = c.machine.basis === "assumed" ? " (as assumed: the offer does not say its RAM and disk)" : "";
    return [
      `the activation cache (${size}) fits neither half this machine's RAM nor its disk${assumed}: priced as streamed (the LM forward every epoch); set workload.sae.activation_cache: none, since auto would try the disk and run out of space`,
    ];
  }
  if (!c.fits) return [`the activation cache (${size}) will not fit: ${c.why}; use activation_cache: auto or none`];
  if (c.location !== "disk") return [];
  const gpu = o.offer?.gpu ?? "unknown";
  const tp = o.throughput;
  const streamed = timer(gpu, c.machine, { stream: true, ...(tp ? { bf16Tflops: tp.bf16Tflops * tp.gpusUsed } : {}) });
  const factor = o.spot ? o.spot.expectedHours / o.spot.runHours : 1;
  if (streamed.hours * factor >= o.hours) return [];
  return [
    `the ${size} activation cache is on disk here, and reading it back every epoch (~${DISK_CACHE_READ_GBPS} GB/s of sequential block reads) makes the run slower than streaming: activation_cache: none would take ~${(streamed.hours * factor).toFixed(1)} h instead of ~${o.hours.toFixed(1)} h; a machine with more RAM keeps it in memory`,
  ];
}


function sizeJob(spec: JobSpec, inputs: PlanInputs, notes: string[]): { estimate: Plan["estimate"]; timer: Timer } {
  const w = spec.workload;
  const fixed = spec.resources.min_vram_gb;
  if (w.type === "command") {
    // A command workload is opaque: the spec must say how much memory and time it needs.
    if (fixed === "auto") throw specGap("resources.min_vram_gb", "a command workload cannot be sized; set resources.min_vram_gb");
    const hours = spec.budget.max_hours;
    if (hours === undefined) throw specGap("budget.max_hours", "a command workload cannot be timed; set budget.max_hours to price it");
    notes.push(`command workload: priced at budget.max_hours (${hours} h) on every GPU`);
    return { estimate: { vramGb: fixed, vramSource: "spec", hoursByGpu: {} }, timer: () => ({ hours }) };
  }
  const detail = estimateSae(w.sae, { ...(inputs.datasetBytes !== undefined ? { datasetBytes: inputs.datasetBytes } : {}), ...(inputs.cpuCores ? { cpuCores: inputs.cpuCores } : {}) });
  const vramGb = fixed === "auto" ? Math.ceil(detail.vram.totalGb * 10) / 10 : fixed;
  const timer: Timer = (gpu, machine, opts) => {
    const device = gpu === "cpu" ? cpuDevice(detail.cpuCores, w.sae.model_dtype) : gpuDevice(opts?.bf16Tflops ?? gpuModel(gpu)?.bf16Tflops ?? UNKNOWN_GPU_TFLOPS, detail.cache.dtype);
    const time = runTime(opts?.stream ? { ...detail, cache: { ...detail.cache, mode: "none" } } : detail, device, machine);
    return { hours: time.hours, time };
  };
  // The CPU option runs here, so its hours use this machine's RAM and disk.
  const cpuHours = timer("cpu", localMachine(inputs)).hours;
  return { estimate: { vramGb, vramSource: fixed === "auto" ? "estimate" : "spec", hoursByGpu: detail.hoursByGpu, cpuHours, detail }, timer };
}

const specGap = (path: string, message: string) => new UserError(`${path}: ${message}`, { exitCode: 2 });

type Timed = (gpu: string) => { hours: number; time?: RunTime };

function localOptions(spec: JobSpec, probe: GpuProbe, needGb: number, timed: Timed, withCpu: boolean): PlanOption[] {
  const out: PlanOption[] = [];
  const maxHours = spec.budget.max_hours;
  if (probe.kind === "ok") {
    const gpus = [...probe.gpus].sort((a, b) => b.memoryFreeMiB - a.memoryFreeMiB).slice(0, spec.resources.count);
    const freeGb = Math.min(...gpus.map((g) => mibToGb(g.memoryFreeMiB)));
    const name = canonicalGpuName(gpus[0]!.name, gpus[0]!.memoryTotalMiB);
    const t = timed(name ?? "unknown");
    const hours = t.hours;
    const opt: PlanOption = { kind: "local", label: `local ${gpus.map((g) => `#${g.index} ${g.name}`).join(", ")}`, hours, ...(t.time ? { time: t.time } : {}), costUsd: 0, localGpus: gpus, chosen: false };
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
  const cpu = withCpu ? timed("cpu") : undefined;
  if (cpu && cpu.hours <= 10 * CPU_MAX_HOURS) {
    const opt: PlanOption = { kind: "cpu", label: "local CPU", hours: cpu.hours, ...(cpu.time ? { time: cpu.time } : {}), costUsd: 0, chosen: false };
    if (cpu.hours > CPU_MAX_HOURS) opt.excluded = `too slow for the CPU (> ${CPU_MAX_HOURS} h)`;
    out.push(opt);
  }
  return out;
}

/** The user's own machine: free, and verified by the SSH checklist at start when it was not probed here. */
function sshOption(spec: JobSpec, probe: GpuProbe | undefined, needGb: number, timed: Timed): PlanOption {
  const t = spec.resources.ssh!;
  const label = `ssh ${t.user}@${t.host}:${t.port}`;
  const unknown = timed("unknown");
  const base = { kind: "ssh" as const, hours: unknown.hours, ...(unknown.time ? { time: unknown.time } : {}), costUsd: 0, chosen: false };
  if (probe === undefined) return { ...base, label: `${label} (not probed; checked at start)` };
  const [opt] = localOptions(spec, probe, needGb, timed, false);
  if (!opt) return { ...base, label, excluded: probe.kind === "failed" ? `nvidia-smi failed: ${probe.message}` : "no NVIDIA GPU" };
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
  const offers = ok.filter((o) => o.kind === "offer");
  const order = (o: PlanOption) => spec.resources.providers.indexOf(o.offer!.provider);
  // `prefer` is a tie-break toward spot, not a blindfold: spot wins only when its expected total (restarts
  // priced in) is no more than on-demand's; `allowed` compares the two the same way.
  const spotFirst = (a: PlanOption, b: PlanOption) => (spec.resources.spot === "prefer" ? Number(Boolean(b.offer?.spot)) - Number(Boolean(a.offer?.spot)) : 0);
  offers.sort((a, b) => a.costUsd - b.costUsd || spotFirst(a, b) || a.hours - b.hours || order(a) - order(b));
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

function savingsFor(spec: JobSpec, considered: PlanOption[], offers: readonly PricedOffer[], price: (o: PricedOffer) => { costUsd: number; excluded?: string } | undefined): Plan["savings"] {
  const chosen = considered.find((o) => o.chosen)!;
  const savings: Plan["savings"] = {};
  if (chosen.costUsd === 0) return savings;
  const w = spec.workload;
  if (w.type === "sae-pii" && w.sae.epochs !== undefined) {
    // Stopping early saves epochs: the SAE's hours, and the LM forward's too when it streams; a cached
    // extraction is spent before the first epoch.
    const t = chosen.time;
    const epochHours = t ? (t.saeHours + (t.cache.location === "stream" ? t.extractionHours : 0)) * (chosen.hours / t.hours) : chosen.hours;
    const usd = round2((chosen.offer!.pricePerHour + (chosen.launchDisk?.usdPerHour ?? 0)) * epochHours * EARLY_STOP_SAVED_FRACTION);
    savings.earlyStopping = w.sae.early_stopping
      ? { usd, note: `early stopping is on: if it stops halfway (the runbook's TUMIX saved 51%) the run costs ~$${usd.toFixed(2)} less` }
      : { usd, note: `set workload.sae.early_stopping to save up to ~$${usd.toFixed(2)} (half the epochs; the runbook's TUMIX saved 51%)` };
  }
  // With spot allowed, a cheaper spot offer would already have been chosen; the hint is for "never".
  if (spec.resources.spot === "never") {
    const spot = offers
      .filter((o) => o.spot)
      .map((o) => ({ o, priced: price(o) }))
      .filter((x) => x.priced !== undefined && x.priced.excluded === undefined)
      .map(({ o, priced }) => ({ o, cost: priced!.costUsd }))
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

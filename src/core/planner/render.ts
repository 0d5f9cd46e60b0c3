/** The plan as text for `kiln plan`: the estimate, every option considered (chosen one marked), the choice. */
import { priceAge, renderTable, usd } from "../catalog/table.js";
import { canonicalGpuName } from "../gpu/names.js";
import { mibToGb } from "../gpu/nvidia-smi.js";
import type { GpuProbe } from "../gpu/probe.js";
import type { JobSpec } from "../spec/job-spec.js";
import type { Plan, PlanOption } from "./plan.js";
import { spotArithmeticText } from "./spot.js";
import { type CachePlacement, MFU, MFU_LM, MFU_SAE, thousands } from "./estimate.js";
import { learningRateLine } from "./learning-rate.js";

const gb = (n: number) => n.toFixed(1);
const gb0 = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));
const gflops = (flops: number) => (flops / 1e9).toFixed(flops < 1e9 ? 3 : 1);
/** "disk", or "disk*" when the machine's RAM and disk were assumed. */
const cacheCell = (c: CachePlacement | undefined, sizedGb?: number) =>
  c ? `${c.location}${sizedGb !== undefined ? ` (${sizedGb} GB sized)` : ""}${c.fits ? "" : "!"}${c.machine.basis === "assumed" ? "*" : ""}` : "—";
const space = (c: CachePlacement) => {
  const m = c.machine;
  return m.basis === "this machine" ? `this machine: ${gb0(m.ramGb)} GB RAM, ${gb0(m.diskGb)} GB disk free` : `${m.basis}: ${gb0(m.ramGb)} GB RAM, ${gb0(m.diskGb)} GB of disk for the job`;
};
const pct = (m: number) => `${Math.round(m * 100)}%`;
/** Offers shown in the table besides the local, ssh and CPU options: the cheapest that fit. */
export const TOP_OFFERS = 8;

/** Offers that differ only by region. */
export const machineKey = (o: PlanOption): string => (o.offer ? `${o.offer.provider}\n${o.offer.instanceType}\n${o.offer.spot}\n${o.offer.pricePerHour}` : o.label);

/** The local/ssh/CPU options, the chosen one, and the {@link TOP_OFFERS} cheapest eligible offers, cheapest first. */
function shownOptions(plan: Plan): PlanOption[] {
  const own = plan.considered.filter((o) => o.kind !== "offer");
  const offers = plan.considered.filter((o) => o.kind === "offer");
  // One row per machine: the same instance type at the same price in several regions is one choice here.
  const seen = new Set<string>();
  const eligible = offers
    .filter((o) => o.excluded === undefined)
    .sort((a, b) => Number(b.chosen) - Number(a.chosen) || a.costUsd - b.costUsd)
    .filter((o) => {
      const key = machineKey(o);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  // With nothing eligible, the cheapest ruled-out offers show why (a refusal names the numbers too).
  const top = eligible.length > 0 ? eligible.slice(0, TOP_OFFERS) : [...offers].sort((a, b) => a.costUsd - b.costUsd).slice(0, 3);
  return [...own, ...top];
}

/** One line for the offers the table leaves out: how many fit, and the ruled-out ones by reason. */
function hiddenSummary(plan: Plan, shown: readonly PlanOption[]): string | undefined {
  const rest = plan.considered.filter((o) => o.kind === "offer" && !shown.includes(o));
  if (rest.length === 0) return undefined;
  const fit = rest.filter((o) => o.excluded === undefined).length;
  const groups = new Map<string, { n: number; gpus: Set<string> }>();
  for (const o of rest) {
    if (o.excluded === undefined) continue;
    const kind = /GB needed/.test(o.excluded) ? "too little GPU memory" : /max_price_per_hour/.test(o.excluded) ? "over max_price_per_hour" : /max_hours/.test(o.excluded) ? "over budget.max_hours" : /> budget/.test(o.excluded) ? "over budget.max_usd" : o.excluded;
    const g = groups.get(kind) ?? { n: 0, gpus: new Set<string>() };
    g.n += 1;
    g.gpus.add(o.offer?.gpu ?? o.label);
    groups.set(kind, g);
  }
  const parts = [...groups].map(([kind, g]) => `${g.n} ${kind} (${[...g.gpus].join(", ")})`);
  const fits = fit > 0 ? `${fit} more that fit (other regions of the machines shown, or a higher cost)` : "";
  return `Not shown: ${[fits, ...parts].filter((p) => p !== "").join("; ")}. \`kiln plan --json\` lists every offer with why it lost.`;
}
const hrs = (h: number) => (h < 1 ? `${Math.max(1, Math.round(h * 60))} min` : h < 100 ? `${h.toFixed(1)} h` : `${Math.round(h)} h`);

function probeLine(p: GpuProbe): string {
  if (p.kind === "missing") return "Local GPU: none (nvidia-smi not found)";
  if (p.kind === "failed") return `Local GPU: nvidia-smi failed: ${p.message}`;
  const list = p.gpus.map((g) => `#${g.index} ${g.name} ${gb(mibToGb(g.memoryFreeMiB))}/${gb(mibToGb(g.memoryTotalMiB))} GB free`).join("; ");
  return `Local GPU: ${list} (driver ${p.driverVersion}${p.cudaVersion ? `, CUDA ${p.cudaVersion}` : ""})`;
}

export function renderPlan(spec: JobSpec, plan: Plan, probe: GpuProbe | undefined): string {
  const out: string[] = [];
  const d = plan.estimate.detail;
  if (d) {
    const v = d.vram;
    out.push(`Job ${spec.name}: SAE on ${d.model.id} layer ${d.model.layer} (d=${d.model.dModel}, ${d.nLatents} latents, k=${d.k})`);
    const parts = `weights ${gb(v.weightsGb)} + SAE & Adam ${gb(v.saeStateGb)} + activations ${gb(v.activationsGb)} + overhead ${gb(v.overheadGb)}`;
    out.push(
      plan.estimate.vramSource === "spec"
        ? `Memory: ${gb(plan.estimate.vramGb)} GB per GPU (resources.min_vram_gb; the estimate is ${gb(v.totalGb)} = ${parts})`
        : `Memory: ~${gb(plan.estimate.vramGb)} GB per GPU = ${parts}`,
    );
    const mfu = (m: number) => `${pct(m)} MFU (${MFU.lm.basis})`;
    out.push(`Work: SAE ${thousands(d.tokens.total)} tokens (${d.tokens.note}) × ${gflops(d.flopsPerToken.sae)} GFLOP/token at ${mfu(MFU_SAE)}`);
    out.push(
      `      LM forward ${thousands(d.cache.tokens + d.valTokens)} tokens (train + val) × ${gflops(d.flopsPerToken.lm)} GFLOP/token at ${mfu(MFU_LM)}: once when the activation cache holds them, every epoch when it streams`,
    );
    out.push(
      `Activation cache: ${gb0(d.cache.sizeGb)} GB (${thousands(d.cache.tokens)} train tokens × d ${d.model.dModel} × ${d.cache.dtype === "fp32" ? 4 : 2} B ${d.cache.dtype}), activation_cache ${d.cache.mode}${d.cache.mode === "auto" ? ": in RAM if under half of it, else on disk, else streamed" : ""}`,
    );
    out.push(learningRateLine(spec, d));
  } else {
    out.push(`Job ${spec.name}: command workload, ${gb(plan.estimate.vramGb)} GB per GPU (resources.min_vram_gb)`);
  }
  if (probe) out.push(probeLine(probe));
  out.push("");
  const shown = shownOptions(plan);
  const rows = shown.map((o) => [
    o.chosen ? "→" : " ",
    o.label,
    o.offer ? (o.offer.gpuCount > 1 ? `${o.offer.gpuCount}x ${o.offer.gpu}` : o.offer.gpu) : o.localGpus?.[0] ? (canonicalGpuName(o.localGpus[0].name, o.localGpus[0].memoryTotalMiB) ?? o.localGpus[0].name) : o.kind === "cpu" ? "cpu" : "?",
    o.offer ? usd(o.offer.pricePerHour) : "$0.00",
    o.time ? hrs(o.time.extractionHours) : "—",
    o.time ? hrs(o.time.saeHours) : "—",
    hrs(o.hours),
    o.boot ? `${Math.round(o.boot.hours * 60)}${o.boot.assumed ? "*" : ""}` : "—",
    usd(o.costUsd),
    cacheCell(o.time?.cache, o.launchDisk?.gb),
    o.offer ? priceAge(o.offer) : "free",
    o.why ?? o.excluded ?? "",
  ]);
  out.push(renderTable(["", "option", "gpu", "$/h", "extract", "SAE", "time", "boot min", "est. cost", "cache", "price", "why"], rows));
  const legend: string[] = [];
  if (plan.considered.some((o) => o.time)) {
    const marks = shown.some((o) => o.time?.cache.machine.basis === "assumed") ? "; * RAM and disk assumed (the offer does not say)" : "";
    const over = shown.some((o) => o.time && !o.time.cache.fits) ? "; ! will not fit there" : "";
    legend.push(`cache: where the activations live on that machine (memory, disk, or stream: no room, the LM forward every epoch)${marks}${over}`);
  }
  if (shown.some((o) => o.boot)) legend.push(`boot min: the provider's boot + Kiln's setup, billed before the first step${shown.some((o) => o.boot?.assumed) ? "; * the provider states none (assumed)" : ""}`);
  out.push(...legend);
  const hidden = hiddenSummary(plan, shown);
  if (hidden) out.push(hidden);
  out.push("");
  const chosen = plan.considered.find((o) => o.chosen);
  if (plan.choice && chosen) {
    const boot = chosen.boot ? ` incl. ${hrs(chosen.boot.hours)} boot` : "";
    out.push(`Choice: ${chosen.label} — ${plan.choice.reason}`);
    const t = chosen.time;
    const split = t ? ` (extraction ${hrs(t.extractionHours)}, SAE ${hrs(t.saeHours)})` : "";
    out.push(`        ~${hrs(chosen.hours)}${split}, ~${usd(chosen.costUsd)}${boot}, budget ${usd(spec.budget.max_usd)}`);
    if (chosen.boot) out.push(`        boot: ${chosen.boot.machineMinutes} min machine (${chosen.boot.source})`);
    const tp = chosen.throughput;
    if (tp) out.push(`        throughput: ${tp.gpu} ${tp.bf16Tflops} TFLOP/s dense bf16 (${tp.source}) × MFU ${pct(tp.mfu.lm)} LM / ${pct(tp.mfu.sae)} SAE (${tp.mfu.basis})`);
    if (chosen.spot) out.push(`        spot: ${spotArithmeticText(chosen.spot)}`);
    if (chosen.worstCaseUsd !== undefined) out.push(`        worst case at the offer's cap price $${chosen.offer!.capPricePerHour!.toFixed(2)}/h: ${usd(chosen.worstCaseUsd)} (the budget cap stops it at ${usd(spec.budget.max_usd)})`);
    if (t) out.push(`        activation cache: ${gb0(t.cache.sizeGb)} GB, ${t.cache.location === "stream" ? "streamed" : t.cache.location === "disk" ? "on disk" : `in ${t.cache.location}`} — ${t.cache.why} (${space(t.cache)})`);
    const d = chosen.launchDisk;
    if (d) {
      out.push(
        `        disk sized at launch: ${d.gb} GB at $${d.usdPerGbMonth.toFixed(2)}/GB-month = ${usd(d.usdPerHour)}/h, ${usd(d.usd)} of the ${usd(chosen.costUsd)} (${d.priceSource}); ${d.unsizedCache === "stream" ? `streaming the cache instead: ${usd(d.unsizedUsd)}` : "the offer's own disk is too small for activation_cache: disk"}`,
      );
    }
  } else if (plan.refusal) {
    out.push(`Refused: ${plan.refusal}`);
  }
  if (plan.cap) {
    out.push(`Cap: ${plan.cap.text}`);
    for (const w of plan.cap.warnings) out.push(`Warning: ${w}`);
  }
  const s = plan.savings;
  if (s.earlyStopping) out.push(`Saving: ${s.earlyStopping.note}`);
  if (s.spot) out.push(`Saving: ${s.spot.note}`);
  for (const n of plan.notes) out.push(`Note: ${n}`);
  return `${out.join("\n")}\n`;
}

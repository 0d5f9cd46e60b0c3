/** The plan as text for `kiln plan`: the estimate, every option considered (chosen one marked), the choice. */
import { priceAge, renderTable, usd } from "../catalog/table.js";
import { canonicalGpuName } from "../gpu/names.js";
import { mibToGb } from "../gpu/nvidia-smi.js";
import type { GpuProbe } from "../gpu/probe.js";
import type { JobSpec } from "../spec/job-spec.js";
import { CLOUD_BOOT_HOURS } from "./plan.js";
import type { Plan } from "./plan.js";
import { spotArithmeticText } from "./spot.js";
import { type CachePlacement, MFU_LM, MFU_SAE, thousands } from "./estimate.js";
import { learningRateLine } from "./learning-rate.js";

const gb = (n: number) => n.toFixed(1);
const gb0 = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));
const gflops = (flops: number) => (flops / 1e9).toFixed(flops < 1e9 ? 3 : 1);
/** "disk", or "disk*" when the machine's RAM and disk were assumed. */
const cacheCell = (c: CachePlacement | undefined) => (c ? `${c.location}${c.fits ? "" : "!"}${c.machine.basis === "assumed" ? "*" : ""}` : "—");
const space = (c: CachePlacement) => {
  const m = c.machine;
  return m.basis === "this machine" ? `this machine: ${gb0(m.ramGb)} GB RAM, ${gb0(m.diskGb)} GB disk free` : `${m.basis}: ${gb0(m.ramGb)} GB RAM, ${gb0(m.diskGb)} GB of disk for the job`;
};
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
    const pct = (m: number) => `${Math.round(m * 100)}% MFU`;
    out.push(`Work: SAE ${thousands(d.tokens.total)} tokens (${d.tokens.note}) × ${gflops(d.flopsPerToken.sae)} GFLOP/token at ${pct(MFU_SAE)}`);
    out.push(
      `      LM forward ${thousands(d.cache.tokens + d.valTokens)} tokens (train + val) × ${gflops(d.flopsPerToken.lm)} GFLOP/token at ${pct(MFU_LM)}: once when the activation cache holds them, every epoch when it streams`,
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
  const rows = plan.considered.map((o) => [
    o.chosen ? "→" : " ",
    o.label,
    o.offer ? o.offer.gpu : o.localGpus?.[0] ? (canonicalGpuName(o.localGpus[0].name, o.localGpus[0].memoryTotalMiB) ?? o.localGpus[0].name) : o.kind === "cpu" ? "cpu" : "?",
    o.offer ? usd(o.offer.pricePerHour) : "$0.00",
    o.time ? hrs(o.time.extractionHours) : "—",
    o.time ? hrs(o.time.saeHours) : "—",
    hrs(o.hours),
    usd(o.costUsd),
    cacheCell(o.time?.cache),
    o.excluded ?? (o.offer ? priceAge(o.offer) : "free"),
  ]);
  out.push(renderTable(["", "option", "gpu", "$/h", "extract", "SAE", "time", "est. cost", "cache", "note"], rows));
  if (plan.considered.some((o) => o.time)) {
    const marks = plan.considered.some((o) => o.time?.cache.machine.basis === "assumed") ? "; * RAM and disk assumed (the offer does not say)" : "";
    const over = plan.considered.some((o) => o.time && !o.time.cache.fits) ? "; ! will not fit there" : "";
    out.push(`cache: where the activations live on that machine (memory, disk, or stream: no room, the LM forward every epoch)${marks}${over}`);
  }
  out.push("");
  const chosen = plan.considered.find((o) => o.chosen);
  if (plan.choice && chosen) {
    const boot = chosen.kind === "offer" ? ` incl. ${hrs(CLOUD_BOOT_HOURS)} boot` : "";
    out.push(`Choice: ${chosen.label} — ${plan.choice.reason}`);
    const t = chosen.time;
    const split = t ? ` (extraction ${hrs(t.extractionHours)}, SAE ${hrs(t.saeHours)})` : "";
    out.push(`        ~${hrs(chosen.hours)}${split}, ~${usd(chosen.costUsd)}${boot}, budget ${usd(spec.budget.max_usd)}`);
    if (chosen.spot) out.push(`        spot: ${spotArithmeticText(chosen.spot)}`);
    if (t) out.push(`        activation cache: ${gb0(t.cache.sizeGb)} GB, ${t.cache.location === "stream" ? "streamed" : t.cache.location === "disk" ? "on disk" : `in ${t.cache.location}`} — ${t.cache.why} (${space(t.cache)})`);
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

/** The plan as text for `kiln plan`: the estimate, every option considered (chosen one marked), the choice. */
import { priceAge, renderTable, usd } from "../catalog/table.js";
import { canonicalGpuName } from "../gpu/names.js";
import { mibToGb } from "../gpu/nvidia-smi.js";
import type { GpuProbe } from "../gpu/probe.js";
import type { JobSpec } from "../spec/job-spec.js";
import { CLOUD_BOOT_HOURS } from "./plan.js";
import type { Plan } from "./plan.js";
import { MFU, thousands } from "./estimate.js";

const gb = (n: number) => n.toFixed(1);
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
    const gflop = (d.flopsPerToken.lm + d.flopsPerToken.sae) / 1e9;
    out.push(`Work: ${thousands(d.tokens.total)} tokens (${d.tokens.note}) × ${gflop.toFixed(gflop < 1 ? 3 : 1)} GFLOP/token at ${Math.round(MFU * 100)}% MFU`);
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
    hrs(o.hours),
    usd(o.costUsd),
    o.excluded ?? (o.offer ? priceAge(o.offer) : "free"),
  ]);
  out.push(renderTable(["", "option", "gpu", "$/h", "time", "est. cost", "note"], rows));
  out.push("");
  const chosen = plan.considered.find((o) => o.chosen);
  if (plan.choice && chosen) {
    const boot = chosen.kind === "offer" ? ` incl. ${hrs(CLOUD_BOOT_HOURS)} boot` : "";
    out.push(`Choice: ${chosen.label} — ${plan.choice.reason}`);
    out.push(`        ~${hrs(chosen.hours)}, ~${usd(chosen.costUsd)}${boot}, budget ${usd(spec.budget.max_usd)}`);
  } else if (plan.refusal) {
    out.push(`Refused: ${plan.refusal}`);
  }
  const s = plan.savings;
  if (s.earlyStopping) out.push(`Saving: ${s.earlyStopping.note}`);
  if (s.spot) out.push(`Saving: ${s.spot.note}`);
  for (const n of plan.notes) out.push(`Note: ${n}`);
  return `${out.join("\n")}\n`;
}

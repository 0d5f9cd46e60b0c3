/**
 * Why each offer won or lost, in the plan's words: against the chosen option, which of time, $/h, where the
 * activation cache lives, spot restarts, boot and unused GPUs made the difference. `kiln plan` prints it per
 * row and `--json` carries it (`considered[].why`).
 */
import type { PlanOption } from "./plan.js";

const hrs = (h: number) => (h < 1 ? `${Math.max(1, Math.round(h * 60))} min` : `${h.toFixed(1)} h`);
const usd = (n: number) => `$${n.toFixed(2)}`;

/** What set this option's time: hours, the GPU's throughput, the cache's place, the boot. */
function facts(o: PlanOption): string[] {
  const out: string[] = [];
  const t = o.throughput;
  if (t) out.push(`${hrs(o.hours)} at ${t.bf16Tflops * t.gpusUsed} TFLOP/s`);
  const c = o.time?.cache;
  const d = o.launchDisk;
  if (d) out.push(`cache on a ${d.gb} GB disk sized at launch (+${usd(d.usdPerHour)}/h, ${usd(d.usd)} in all; ${d.unsizedCache === "stream" ? `streamed would cost ${usd(d.unsizedUsd)}` : "the offer's own disk is too small for activation_cache: disk"})`);
  else if (c) out.push(`cache ${c.location === "stream" ? "streamed (no room)" : `in ${c.location === "memory" ? "RAM" : "disk"}`}`);
  if (o.boot) out.push(`boot ${Math.round(o.boot.hours * 60)} min${o.boot.assumed ? " (assumed)" : ""}`);
  if (o.spot) out.push(`spot +${hrs(o.spot.expectedHours - o.spot.runHours)} expected restarts`);
  if (t && t.gpusUsed < t.gpuCount) out.push(`bills ${t.gpuCount} GPUs, trains on ${t.gpusUsed}`);
  return out;
}

const CACHE_RANK = { memory: 0, disk: 1, stream: 2 } as const;

/** Why `o` costs more than the choice `c`: only the factors where it is worse. */
function against(o: PlanOption, c: PlanOption): string[] {
  const out: string[] = [];
  // A disk sized at launch bills with the machine, so it is part of the hourly price compared.
  const po = (o.offer?.pricePerHour ?? 0) + (o.launchDisk?.usdPerHour ?? 0);
  const pc = (c.offer?.pricePerHour ?? 0) + (c.launchDisk?.usdPerHour ?? 0);
  if (o.hours > c.hours * 1.01) {
    const slower: string[] = [];
    if (o.throughput && c.throughput && o.throughput.bf16Tflops * o.throughput.gpusUsed < c.throughput.bf16Tflops * c.throughput.gpusUsed) {
      slower.push(`${o.throughput.bf16Tflops * o.throughput.gpusUsed} vs ${c.throughput.bf16Tflops * c.throughput.gpusUsed} TFLOP/s`);
    }
    const oc = o.time?.cache.location;
    const cc = c.time?.cache.location;
    if (oc && cc && CACHE_RANK[oc] > CACHE_RANK[cc]) slower.push(oc === "stream" ? "cache streamed: no room in RAM or disk" : "cache on disk, not in RAM");
    if (o.spot && (!c.spot || o.spot.expectedHours - o.spot.runHours > c.spot.expectedHours - c.spot.runHours)) slower.push(`spot restarts +${hrs(o.spot.expectedHours - o.spot.runHours)}`);
    out.push(`slower: ${hrs(o.hours)} vs ${hrs(c.hours)}${slower.length > 0 ? ` (${slower.join(", ")})` : ""}`);
  }
  if (po > pc) out.push(`pricier: ${usd(po)}/h vs ${usd(pc)}/h${o.launchDisk ? ` (incl. its ${o.launchDisk.gb} GB disk)` : ""}`);
  if (o.boot && c.boot && o.boot.hours > c.boot.hours) out.push(`boot ${Math.round(o.boot.hours * 60)} vs ${Math.round(c.boot.hours * 60)} min`);
  const t = o.throughput;
  if (t && t.gpusUsed < t.gpuCount) out.push(`bills ${t.gpuCount} GPUs, trains on ${t.gpusUsed}`);
  return out;
}

/**
 * Set `why` on every cloud offer of a decided plan.
 *
 * @example
 *   explain(plan.considered);
 *   plan.considered[1].why; // "lost: +$1.10: slower: 3.1 h vs 1.5 h (165 vs 312 TFLOP/s); …"
 */
export function explain(considered: PlanOption[]): void {
  const chosen = considered.find((o) => o.chosen);
  for (const o of considered) {
    if (o.kind !== "offer") continue;
    if (o.excluded !== undefined) o.why = `lost: ${o.excluded}`;
    else if (o.chosen) o.why = `won: lowest expected cost, ${facts(o).join(", ")}`;
    else if (!chosen) o.why = facts(o).join(", ");
    else if (chosen.kind !== "offer") o.why = `not needed: ${chosen.label} costs nothing`;
    else {
      const reasons = against(o, chosen);
      const delta = o.costUsd - chosen.costUsd;
      o.why = `lost: ${delta >= 0.005 ? `+${usd(delta)}` : "a tie"}${reasons.length > 0 ? `: ${reasons.join("; ")}` : ""}`;
    }
  }
}

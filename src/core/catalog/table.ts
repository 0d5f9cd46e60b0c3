/**
 * Plain-text tables for offer lists and plans. Pure string building (the CLI prints the result), so
 * the same rendering is tested once and used by `kiln offers` and `kiln plan`.
 */
import type { PricedOffer } from "./offers.js";

/** Left-aligned columns separated by two spaces; numeric-looking cells are right-aligned. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+$]?[\d.,]+[%h]?$|^—$/.test(r[i] ?? "")));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export const usd = (n: number): string => `$${n.toFixed(2)}`;

/** "catalog 2025-10-30" or "live"; the age tells the user how much to trust the number. */
export const priceAge = (o: PricedOffer): string => (o.priceSource === "live" ? "live" : `catalog ${o.priceDate}`);

/** Signed percentage vs the baseline price: "+134%", "-49%", "0%". */
export function versus(price: number, baseline: number | undefined): string {
  if (baseline === undefined || baseline === 0) return "—";
  const pct = Math.round(((price - baseline) / baseline) * 100);
  return pct > 0 ? `+${pct}%` : `${pct}%`;
}

export const OFFER_HEADER = ["provider", "instance type", "gpu", "vram", "$/h", "cost", "vs base", "spot $/h", "price source"] as const;

/** One table row per offer, with the cost for `hours`. */
export function offerRow(o: PricedOffer, hours: number, baseline: number | undefined): string[] {
  return [
    o.provider,
    o.instanceType + (o.spot ? " (spot)" : ""),
    o.gpuCount > 1 ? `${o.gpuCount}x ${o.gpu}` : o.gpu,
    `${o.vramGb}GB`,
    usd(o.pricePerHour),
    usd(o.pricePerHour * hours),
    versus(o.pricePerHour, baseline),
    o.spotPricePerHour === undefined ? "—" : usd(o.spotPricePerHour),
    `${priceAge(o)} (${o.source})`,
  ];
}

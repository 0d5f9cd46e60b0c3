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

/**
 * "catalog 2025-10-30", or for a live price where the provider has capacity right now ("live, capacity
 * in us-east-1"): the age tells the user how much to trust the number.
 */
export function priceAge(o: PricedOffer): string {
  if (o.priceSource !== "live") return `catalog ${o.priceDate}`;
  if (o.available === false) return "live, no capacity now";
  return o.region === "any" ? "live" : `live, capacity in ${o.region}`;
}

/** Where the price comes from: the catalog row's source, or where a live offer has capacity. */
const sourceCell = (o: PricedOffer): string => (o.priceSource === "live" ? priceAge(o) : `${priceAge(o)} (${o.source})`);

/**
 * One table row per machine: live offers of the same instance type at the same price in several
 * regions become one offer whose region lists them ("us-east-1, us-west-1"). For display only; the
 * planner launches per region.
 */
export function mergeRegions(offers: readonly PricedOffer[]): PricedOffer[] {
  const out: PricedOffer[] = [];
  const byMachine = new Map<string, PricedOffer>();
  for (const o of offers) {
    const key = `${o.provider}\n${o.instanceType}\n${o.spot}\n${o.pricePerHour}\n${o.available}`;
    const seen = o.priceSource === "live" && o.region !== "any" ? byMachine.get(key) : undefined;
    if (seen) seen.region = `${seen.region}, ${o.region}`;
    else {
      const copy = { ...o };
      out.push(copy);
      if (o.priceSource === "live" && o.region !== "any") byMachine.set(key, copy);
    }
  }
  return out;
}

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
    sourceCell(o),
  ];
}

/** How the dashboard writes numbers, money, times and sizes: one place, so pages and tests agree. */
import { formatDuration } from "../core/monitor/format.js";

export { formatDuration };

/** Dollars with cents; sub-dollar amounts keep four decimals so a cheap CPU job's spend is not "$0.00". */
export const usd = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? "—" : x < 1 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`);

export const num = (x: number | null | undefined, digits: number): string => (x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits));

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** "2026-12-04 10:00:03 UTC": ledger timestamps are ISO UTC; the page says so rather than guess a zone. */
export const utc = (iso: string | null | undefined): string => (iso ? `${iso.slice(0, 19).replace("T", " ")} UTC` : "—");

export const seconds = (s: number | undefined): string => (s === undefined ? "—" : formatDuration(s));

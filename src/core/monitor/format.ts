/** The one-line live progress display: bar, position, the SAE's health numbers, speed, ETA, dollars. */
import type { JobProgress } from "./progress.js";

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export const formatUsd = (x: number): string => `$${x < 10 ? x.toFixed(2) : x.toFixed(0)}`;

function compact(x: number): string {
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (Math.abs(x) >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

const fmt = (x: number | null | undefined, digits: number): string => (x === null || x === undefined ? "—" : x.toFixed(digits));

export function progressBar(fraction: number | undefined, width = 20): string {
  if (fraction === undefined) return `[${"·".repeat(width)}]`;
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}

export interface MoneyView {
  spentUsd: number;
  maxUsd?: number | undefined;
}

/**
 * @example
 *   progressLine(p, { spentUsd: 0.42, maxUsd: 20 })
 *   // "[#####---------------]  25% ep 0.25 step 100 loss 0.4100 L0 32.0 EV 0.610 81.0k tok/s ETA 48s $0.42/$20"
 */
export function progressLine(p: JobProgress, money: MoneyView, activity?: string): string {
  const t = p.latestTrain();
  const parts = [progressBar(p.fraction())];
  // Before the first train line, say what is happening (setting up Python, loading the model…).
  if (!t) parts.push(activity ?? (p.starts.length > 0 ? "starting…" : "waiting for the first metrics…"));
  else {
    parts.push(
      `ep ${fmt(t.epoch, 2)}`,
      `step ${t.step}`,
      `loss ${fmt(t.loss, 4)}`,
      `L0 ${fmt(t.l0, 1)}`,
      `EV ${fmt(t.explained_variance, 3)}`,
      t.tokens_per_s ? `${compact(t.tokens_per_s)} tok/s` : "— tok/s",
      `ETA ${t.eta_s === null || t.eta_s === undefined ? "?" : formatDuration(t.eta_s)}`,
    );
    // After training (the probe step), keep the SAE's last numbers and say what runs now.
    if (activity) parts.push(`· ${activity}`);
  }
  parts.push(money.maxUsd === undefined ? formatUsd(money.spentUsd) : `${formatUsd(money.spentUsd)}/${formatUsd(money.maxUsd)}`);
  return parts.join(" ");
}

/**
 * One rule for every price an API hands Kiln. The dearest on-demand GPU-hours listed anywhere are about
 * $10-15 (B200, H200); a price above $100 per GPU-hour is an API error or a unit change (cents read as
 * dollars), and a price of $0 or less would turn the dollar cap off (the watchdog's deadline is spend ÷ price).
 */
export const MAX_PRICE_PER_GPU_HOUR = 100;

/** Why a listed price cannot be planned on, or undefined when it is believable ($0 < per GPU-hour ≤ the max). */
export function implausiblePrice(pricePerHour: number, gpus: number, maxPerGpuHour = MAX_PRICE_PER_GPU_HOUR): string | undefined {
  if (!Number.isFinite(pricePerHour) || pricePerHour <= 0) return `a price of $${pricePerHour}/h (a machine is never free: the meter would read $0)`;
  const perGpu = pricePerHour / Math.max(1, gpus);
  if (perGpu > maxPerGpuHour) return `a price of $${perGpu.toFixed(2)} per GPU-hour (above the $${maxPerGpuHour} any GPU costs)`;
  return undefined;
}

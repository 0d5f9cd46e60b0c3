/**
 * Cost accounting shared by every provider: a machine accrues cost per second at its billed price from
 * `launched_at` until its termination is *confirmed* (`terminated_at`); a machine still running accrues
 * up to `now`. A machine that never launched (an intent only) costs nothing.
 */
export interface BilledMachine {
  price_per_hour: number;
  launched_at: string | null;
  terminated_at: string | null;
}

export function machineSeconds(m: BilledMachine, nowMs: number): number {
  if (!m.launched_at) return 0;
  const start = Date.parse(m.launched_at);
  const end = m.terminated_at ? Date.parse(m.terminated_at) : nowMs;
  return Math.max(0, (end - start) / 1000);
}

export function machineCost(m: BilledMachine, nowMs: number): number {
  return (m.price_per_hour * machineSeconds(m, nowMs)) / 3600;
}

export function totalCost(machines: readonly BilledMachine[], nowMs: number): number {
  return machines.reduce((sum, m) => sum + machineCost(m, nowMs), 0);
}

/**
 * The local machine's price: 0 unless the user sets one (to account for their own electricity or to
 * rehearse a budget), from `KILN_LOCAL_PRICE_PER_HOUR` or the spec. A bad value is ignored by the
 * caller's validation, never silently turned into 0 here.
 */
export function localPricePerHour(env: NodeJS.ProcessEnv, specValue?: number): number | { error: string } {
  const raw = env["KILN_LOCAL_PRICE_PER_HOUR"];
  if (raw !== undefined && raw !== "") {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0) return { error: `KILN_LOCAL_PRICE_PER_HOUR must be a number ≥ 0, got "${raw}"` };
    return v;
  }
  return specValue ?? 0;
}

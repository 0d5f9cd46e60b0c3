/**
 * The cap's clock for the machine an attempt just started on: the seconds its watchdog may let the run go
 * on. The cap is the job's, across attempts: earlier machines' cost and hours are spent already.
 * It counts billed time from the provider's launch time (no boot allowance), and stops one polling
 * interval early, as the client's monitor does.
 *
 * Dollars are counted at each machine's *worst-case* price (a spot offer's bid or MaxPrice,
 * `Offer.capPricePerHour`, kept in the machine's offer_json): a spot price that rises while no client
 * watches must still not carry spend past the cap. Reports and `kiln cost` use the expected price.
 */
import type { Ledger, MachineLedgerRecord } from "../../store/index.js";
import { machineSeconds } from "../cost/index.js";
import type { CloudFile } from "./cloud-file.js";

/**
 * The most an hour of this machine can cost: its offer's capPricePerHour (plus a disk sized at launch, which the
 * recorded price already counts) when higher than the price recorded.
 */
export function capPriceOf(m: Pick<MachineLedgerRecord, "price_per_hour" | "offer_json">): number {
  let cap: unknown;
  let disk: unknown;
  try {
    const offer = JSON.parse(m.offer_json) as { capPricePerHour?: unknown; launchDisk?: { usdPerHour?: unknown } };
    cap = offer.capPricePerHour;
    disk = offer.launchDisk?.usdPerHour;
  } catch {
    cap = undefined;
  }
  const withDisk = typeof cap === "number" && typeof disk === "number" && Number.isFinite(disk) ? cap + disk : cap;
  return typeof withDisk === "number" && Number.isFinite(withDisk) && withDisk > m.price_per_hour ? withDisk : m.price_per_hour;
}

export function capSecondsLeft(ledger: Ledger, c: Pick<CloudFile, "jobId" | "budget" | "pollMs">, machineRowId: number, now: number): number {
  const machines = ledger.listMachines(c.jobId);
  const self = machines.find((m) => m.id === machineRowId);
  if (!self) return 0;
  const others = machines.filter((m) => m.id !== machineRowId);
  const spentBefore = others.reduce((s, m) => s + (capPriceOf(m) * machineSeconds(m, now)) / 3600, 0);
  const hoursBefore = others.reduce((s, m) => s + machineSeconds(m, now), 0) / 3600;
  const price = capPriceOf(self);
  const byDollars = price > 0 ? ((c.budget.maxUsd - spentBefore) / price) * 3600 : Number.POSITIVE_INFINITY;
  const byHours = c.budget.maxHours !== undefined ? (c.budget.maxHours - hoursBefore) * 3600 : Number.POSITIVE_INFINITY;
  return Math.min(byDollars, byHours) - machineSeconds(self, now) - c.pollMs / 1000;
}

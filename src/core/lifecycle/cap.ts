/**
 * The cap's clock for the machine an attempt just started on: the seconds its watchdog may let the run go
 * on. The cap is the job's, across attempts: earlier machines' billed cost and hours are spent already.
 * It counts billed time from the provider's launch time (no boot allowance), and stops one polling
 * interval early, as the client's monitor does.
 */
import type { Ledger } from "../../store/index.js";
import { machineCost, machineSeconds } from "../cost/index.js";
import type { CloudFile } from "./cloud-file.js";

export function capSecondsLeft(ledger: Ledger, c: Pick<CloudFile, "jobId" | "budget" | "pollMs">, machineRowId: number, now: number): number {
  const machines = ledger.listMachines(c.jobId);
  const self = machines.find((m) => m.id === machineRowId);
  if (!self) return 0;
  const others = machines.filter((m) => m.id !== machineRowId);
  const spentBefore = others.reduce((s, m) => s + machineCost(m, now), 0);
  const hoursBefore = others.reduce((s, m) => s + machineSeconds(m, now), 0) / 3600;
  const byDollars = self.price_per_hour > 0 ? ((c.budget.maxUsd - spentBefore) / self.price_per_hour) * 3600 : Number.POSITIVE_INFINITY;
  const byHours = c.budget.maxHours !== undefined ? (c.budget.maxHours - hoursBefore) * 3600 : Number.POSITIVE_INFINITY;
  return Math.min(byDollars, byHours) - machineSeconds(self, now) - c.pollMs / 1000;
}

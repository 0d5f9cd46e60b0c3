/** Open the ledger for core code, turning the store's LedgerError into Kiln's KilnError. */
import { Ledger, LedgerError } from "../../store/index.js";
import { KilnError } from "../../base/errors.js";
import type { KilnPaths } from "../home.js";

export function openLedger(paths: Pick<KilnPaths, "ledger">): Ledger {
  try {
    return Ledger.open(paths.ledger);
  } catch (e) {
    if (e instanceof LedgerError) throw new KilnError(e.code, e.message, { cause: e });
    throw e;
  }
}

export function withLedger<T>(paths: Pick<KilnPaths, "ledger">, fn: (l: Ledger) => T): T {
  const l = openLedger(paths);
  try {
    return fn(l);
  } finally {
    l.close();
  }
}

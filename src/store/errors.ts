/**
 * The store's failure type: a KilnError (from src/base, the layer every other may use) with the
 * `ledger_*` codes, so the CLI reports a corrupt or unopenable ledger as a system failure, not a bug.
 */
import { KilnError } from "../base/errors.js";

export class LedgerError extends KilnError {
  override readonly name = "LedgerError";
}

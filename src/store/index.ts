/** The ledger: SQLite-backed, typed, the only place SQL lives. */
export { Ledger, type NewEvent, type NewJob, type NewMachineIntent } from "./ledger.js";
export { LedgerError } from "./errors.js";
export { MIGRATIONS, migrate } from "./migrations.js";
export * from "./records.js";

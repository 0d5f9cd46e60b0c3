/**
 * The store's own failure type. The store sits below src/core, so it cannot throw core's KilnError;
 * core's `openLedger` (src/core/jobs) wraps these into KilnError with the same code.
 */
export class LedgerError extends Error {
  override readonly name = "LedgerError";
  readonly code: string;
  constructor(code: string, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
  }
}

/**
 * Kiln's error taxonomy. One top-level handler (src/cli/main.ts) decides what the user sees:
 *
 * - {@link UserError}: the user asked for something wrong or the world is not as they said (bad spec,
 *   missing credentials, sold-out capacity with no fallback). `message` is the UX and says what to do
 *   next; it is printed as is and never reported as a bug. Exit code 2 for bad input, 1 otherwise.
 * - {@link KilnError}: a system failure with a stable `code` (remote command failed, provider API error,
 *   corrupt ledger). Printed with its code; the stack goes to the debug log only.
 * - Anything else is a bug: printed with "please report" and the debug log path.
 *
 * Always pass `cause` when wrapping, so the chain survives into the debug log.
 *
 * @example
 *   throw new UserError("resources.min_vram_gb: expected a number ≥ 1, got \"forty\"", { exitCode: 2 });
 */
export class UserError extends Error {
  override readonly name: string = "UserError";
  readonly exitCode: 1 | 2;
  /** One line telling the user what to run or change next, printed after the message. */
  readonly hint: string | undefined;
  constructor(message: string, opts: { cause?: unknown; exitCode?: 1 | 2; hint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.exitCode = opts.exitCode ?? 1;
    this.hint = opts.hint;
  }
}

/** A system failure with a machine-readable code. Not the user's fault, not necessarily a bug. */
export class KilnError extends Error {
  override readonly name: string = "KilnError";
  readonly code: string;
  /** Free-form structured details (exit codes, log tails) kept for the debug log and `--json` output. */
  readonly details: Record<string, unknown>;
  constructor(code: string, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details ?? {};
  }
}

/** A deadline passed. Carries what was being waited for, so the message names it. */
export class DeadlineError extends KilnError {
  override readonly name = "DeadlineError";
  constructor(what: string, ms: number, opts: { cause?: unknown } = {}) {
    super("deadline", `timed out after ${(ms / 1000).toFixed(1)} s waiting for ${what}`, opts);
  }
}

/** The operation was aborted through its AbortSignal (Ctrl-C, a parent deadline). Never retried. */
export class AbortedError extends KilnError {
  override readonly name = "AbortedError";
  constructor(what: string, opts: { cause?: unknown } = {}) {
    super("aborted", `aborted: ${what}`, opts);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** Message of any thrown value, without assuming it is an Error. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

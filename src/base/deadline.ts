/**
 * Waiting, always with a deadline. Every loop that polls a provider, an SSH port or a process goes
 * through {@link sleep} (abortable) and {@link pollUntil} (bounded by a deadline), never a bare
 * `while (true)`.
 */
import { AbortedError, DeadlineError } from "./errors.js";

/** Sleep `ms`, rejecting with AbortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError("sleep", { cause: signal.reason }));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortedError("sleep", { cause: signal?.reason }));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface PollOptions {
  /** What is being waited for, used in the timeout message. */
  what: string;
  timeoutMs: number;
  intervalMs: number;
  /** Multiply the interval by this after each try, up to maxIntervalMs. */
  backoff?: number;
  maxIntervalMs?: number;
  signal?: AbortSignal;
  now?: () => number;
  /** Errors to stop on at once, rethrown as they are (e.g. a provider's auth or invalid-request errors). */
  isPermanent?: (e: unknown) => boolean;
}

/**
 * Call `probe` until it returns a value other than `undefined`, or the deadline passes
 * (DeadlineError, with the last probe error as cause).
 */
export async function pollUntil<T>(probe: () => Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const deadline = now() + opts.timeoutMs;
  let interval = opts.intervalMs;
  let lastError: unknown;
  for (;;) {
    if (opts.signal?.aborted) throw new AbortedError(opts.what, { cause: opts.signal.reason });
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof AbortedError) throw e;
      // A permanent error (bad credentials, an invalid request) will not heal by waiting out the deadline.
      if (opts.isPermanent?.(e)) throw e;
      lastError = e;
    }
    const left = deadline - now();
    if (left <= 0) throw new DeadlineError(opts.what, opts.timeoutMs, { cause: lastError });
    await sleep(Math.min(interval, left), opts.signal);
    interval = Math.min(interval * (opts.backoff ?? 1), opts.maxIntervalMs ?? interval * (opts.backoff ?? 1));
  }
}

/** An AbortSignal that fires after `ms` or when `parent` fires, whichever is first. */
export function deadlineSignal(ms: number, parent?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return parent ? AbortSignal.any([parent, t]) : t;
}

/**
 * `p`, or an AbortedError as soon as `signal` aborts. The work behind `p` goes on and is ignored: for a wait
 * whose callee may never settle (an SSH request on a connection that dropped without answering), so the
 * caller's deadline holds whatever the callee does.
 */
export function unlessAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, label: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new AbortedError(label, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError(label, { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

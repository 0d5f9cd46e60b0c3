/**
 * Time, injectable: the client paces and backs off through a {@link Clock}, so tests run the
 * 12-second launch spacing and minute-long Retry-After waits instantly with a fake one.
 */

export interface Clock {
  now(): number;
  /** Resolve after `ms`; reject with the signal's reason as soon as it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/**
 * Client-side rate limit: at most one call per `intervalMs`. Callers reserve the next free slot
 * before sleeping, so concurrent callers queue up instead of all waking at once and earning a 429.
 */
export class Pacer {
  #next = 0;
  constructor(
    private readonly intervalMs: number,
    private readonly clock: Clock,
  ) {}

  async wait(signal?: AbortSignal): Promise<void> {
    if (this.intervalMs <= 0) return;
    const now = this.clock.now();
    const at = Math.max(now, this.#next);
    this.#next = at + this.intervalMs;
    if (at > now) await this.clock.sleep(at - now, signal);
  }
}

/** Parse `Retry-After` (delta seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

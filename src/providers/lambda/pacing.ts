/**
 * Time, injectable: the client paces and backs off through a {@link Clock}, so tests run the
 * 12-second launch spacing and minute-long Retry-After waits instantly with a fake one.
 */
import { sleep } from "../../base/deadline.js";

export interface Clock {
  now(): number;
  /** Resolve after `ms`; reject with the signal's reason as soon as it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  // The client rethrows the caller's own abort reason everywhere (see LambdaClient#send), so a wait
  // that is cut short does too, rather than base sleep's AbortedError.
  sleep: (ms, signal) =>
    sleep(ms, signal).catch((e: unknown) => {
      throw signal?.aborted ? signal.reason : e;
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

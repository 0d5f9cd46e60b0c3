/**
 * Client-side pacing for TensorDock's documented limit, "100 requests per minute per organization" (docs
 * getting-started): one call per 600 ms by default, callers queueing for the next free slot so concurrent calls
 * never burst into a 429. The docs say "rate limit headers are included in all responses" without naming them;
 * GUESS(tensordock): only `Retry-After` on a 429 is read. Verify by reading the headers of one real answer.
 * Time is injectable, so tests wait instantly.
 */
import { sleep } from "../../base/deadline.js";

export interface Clock {
  now(): number;
  /** Resolve after `ms`; reject with the signal's reason as soon as it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    sleep(ms, signal).catch((e: unknown) => {
      throw signal?.aborted ? signal.reason : e;
    }),
};

/** 100 a minute. */
export const TENSORDOCK_MIN_INTERVAL_MS = 600;

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

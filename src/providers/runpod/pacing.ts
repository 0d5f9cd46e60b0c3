/**
 * Client-side pacing for RunPod's REST v2 limits (api-reference-v2 "rate limits"): a quota per user for a
 * minute, an hour and a day at once; a 429 with `Retry-After` (integer seconds) when any window runs out; and
 * on every authenticated answer the IETF draft headers `RateLimit-Policy` (`"minute";q=60;w=60, …`) and
 * `RateLimit` (`"minute";r=0;t=12, …`). Kiln spaces its calls (the documented example policy is 60 a minute
 * and 3,000 an hour, so one per 1.2 s by default), and when an answer says a window has `r=0` left, it waits that window's `t`
 * before the next call instead of earning the 429. Time is injectable, so tests wait instantly.
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

/** At most one call per `intervalMs`, and none before a time a `RateLimit` header said the quota returns. */
export class Pacer {
  #next = 0;
  constructor(
    private readonly intervalMs: number,
    private readonly clock: Clock,
  ) {}

  /** Hold every call until `at` (ms since epoch): a window RunPod said is used up. */
  holdUntil(at: number): void {
    this.#next = Math.max(this.#next, at);
  }

  async wait(signal?: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const at = Math.max(now, this.#next);
    this.#next = at + Math.max(0, this.intervalMs);
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

/**
 * From a `RateLimit` header, how long until a window that has no requests left resets (the longest such
 * wait), or undefined when every window has some left or the header is absent or unreadable.
 *
 * @example exhaustedForMs('"minute";r=0;t=12, "hour";r=2800;t=1812') // 12000
 */
export function exhaustedForMs(value: string | null): number | undefined {
  if (!value) return undefined;
  let wait: number | undefined;
  for (const member of value.split(",")) {
    const r = /;\s*r=(\d+)/.exec(member);
    const t = /;\s*t=(\d+)/.exec(member);
    if (r && t && Number(r[1]) === 0) wait = Math.max(wait ?? 0, Number(t[1]) * 1000);
  }
  return wait;
}

/**
 * POST one alert to a Slack-compatible incoming webhook (`{text, blocks?}`), which Slack, Mattermost and
 * Discord's `/slack` endpoint all accept. Retry policy by class: 5xx, 429 and network errors/timeouts
 * are retried with exponential backoff and jitter (honouring Retry-After up to a cap); 4xx is final.
 * Every attempt has its own timeout and the whole delivery a deadline.
 */
import { sleep } from "../../base/deadline.js";

export interface SlackMessage {
  text: string;
  blocks?: unknown[];
}

export interface DeliveryOptions {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  requestTimeoutMs: number;
  deadlineMs: number;
  signal?: AbortSignal;
}

export const DEFAULT_DELIVERY: DeliveryOptions = { attempts: 5, baseDelayMs: 500, maxDelayMs: 10_000, requestTimeoutMs: 10_000, deadlineMs: 60_000 };

export type DeliveryResult = { ok: true; attempts: number } | { ok: false; attempts: number; error: string };

export async function postWebhook(url: string, msg: SlackMessage, opts: DeliveryOptions = DEFAULT_DELIVERY): Promise<DeliveryResult> {
  const deadline = Date.now() + opts.deadlineMs;
  let lastError = "no attempt made";
  for (let attempt = 1; attempt <= opts.attempts; attempt++) {
    let retryAfterMs: number | undefined;
    try {
      const timeout = AbortSignal.timeout(Math.max(1, Math.min(opts.requestTimeoutMs, deadline - Date.now())));
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(msg),
        signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
      });
      // Only the status matters; the body (whatever its size) is dropped unread.
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return { ok: true, attempts: attempt };
      lastError = `HTTP ${res.status}`;
      if (res.status < 500 && res.status !== 429) return { ok: false, attempts: attempt, error: lastError };
      const ra = Number(res.headers.get("retry-after"));
      if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
    } catch (e) {
      if (opts.signal?.aborted) return { ok: false, attempts: attempt, error: "aborted" };
      lastError = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    if (attempt === opts.attempts) break;
    const backoff = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (attempt - 1));
    const wait = Math.min(opts.maxDelayMs, retryAfterMs ?? backoff * (0.5 + Math.random() / 2));
    if (Date.now() + wait >= deadline) break;
    try {
      await sleep(wait, opts.signal);
    } catch {
      return { ok: false, attempts: attempt, error: "aborted" };
    }
  }
  return { ok: false, attempts: opts.attempts, error: lastError };
}

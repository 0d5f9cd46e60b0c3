/**
 * Which SSH connection failures are worth another try. A fresh cloud machine refuses SSH for a while
 * after it reports "active" (the port is closed, then sshd accepts but drops the handshake while
 * cloud-init regenerates host keys), so refused/reset/timeouts/banner errors are retried until a
 * deadline. Authentication failures and a changed host key are decided: retrying cannot fix them and a
 * changed host key must never be "tried again until it works".
 */
import { KilnError } from "../../base/errors.js";

const RETRYABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "EAI_AGAIN",
  "EPIPE",
]);

interface Ssh2Error {
  message?: unknown;
  code?: unknown;
  level?: unknown;
}

export function isAuthFailure(e: unknown): boolean {
  return typeof e === "object" && e !== null && (e as Ssh2Error).level === "client-authentication";
}

export function isRetryableConnectError(e: unknown): boolean {
  if (e instanceof KilnError) return false;
  if (typeof e !== "object" || e === null) return false;
  const err = e as Ssh2Error;
  if (err.level === "client-authentication") return false;
  if (typeof err.code === "string" && RETRYABLE_CODES.has(err.code)) return true;
  // ssh2 levels: "client-socket" (TCP trouble), "client-timeout" (no handshake within readyTimeout).
  if (err.level === "client-socket" || err.level === "client-timeout") return true;
  const msg = typeof err.message === "string" ? err.message : "";
  return /handshake|banner|connection lost|socket hang up|not connected|closed/i.test(msg);
}

/** Exponential backoff with ±20% jitter, capped. `attempt` starts at 0. */
export function backoffMs(attempt: number, baseMs = 500, capMs = 5000, rand: () => number = Math.random): number {
  const raw = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(raw * (0.8 + 0.4 * rand()));
}

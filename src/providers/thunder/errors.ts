/**
 * Thunder's error answers translated at the edge into Kiln's {@link ProviderErrorKind}. The spec's envelope is
 * `{code:int, error:string, message}` (`error` e.g. "invalid_request"); thunder-cli also meets bare `{message}`.
 * The spec documents 400, 401, 404, 409 and 500 only — **no 429 and no capacity code** — so:
 * - the body is read before the status (a code or a message saying capacity/quota/billing wins);
 * - 429 is still honoured (any sane front answers it) with Retry-After;
 * - an unexplained 400 on *create* is taken as capacity for that instance type (provider-review §2.9: capacity
 *   cannot be told from a bad request there), so failover moves on, bounded by the offer cap; elsewhere it is
 *   invalid. GUESS until a live capacity answer is seen.
 */
import { type BlockScope, ProviderError, type ProviderErrorKind } from "../provider.js";
import type { ThunderApiError } from "./schema.js";

export const THUNDER_TOKENS_PAGE = "https://console.thundercompute.com/settings/tokens";

interface Class {
  kind: ProviderErrorKind;
  scope: BlockScope;
}

// Error strings are undocumented beyond "invalid_request"; these are the plausible ones, matched loosely.
const BY_CODE: Record<string, Class> = {
  unauthorized: { kind: "auth", scope: "provider" },
  invalid_token: { kind: "auth", scope: "provider" },
  forbidden: { kind: "auth", scope: "provider" },
  payment_required: { kind: "billing", scope: "provider" },
  insufficient_funds: { kind: "billing", scope: "provider" },
  quota_exceeded: { kind: "quota", scope: "provider" },
  rate_limited: { kind: "rate-limited", scope: "none" },
  no_capacity: { kind: "capacity", scope: "instance-type" },
  capacity: { kind: "capacity", scope: "instance-type" },
};

const BY_MESSAGE: [RegExp, Class][] = [
  [/capacity|out of stock|sold out|no (available )?(gpus?|instances?|machines?) (are )?available|unavailable/i, { kind: "capacity", scope: "instance-type" }],
  [/payment|billing|balance|credit card|insufficient funds/i, { kind: "billing", scope: "provider" }],
  [/quota|limit (reached|exceeded)|too many instances|maximum number of instances/i, { kind: "quota", scope: "provider" }],
];

/** Kind and scope of an error answer; `onCreate` applies the create-only rule for an unexplained 400. */
export function classifyThunderError(status: number, body: ThunderApiError | undefined, onCreate = false): Class {
  if (status === 401) return { kind: "auth", scope: "provider" };
  if (status === 429) return { kind: "rate-limited", scope: "none" };
  const code = body?.error?.toLowerCase();
  const known = code === undefined ? undefined : BY_CODE[code];
  if (known) return known;
  const byMessage = BY_MESSAGE.find(([re]) => re.test(body?.message ?? ""))?.[1];
  if (byMessage && status < 500) return byMessage;
  if (status >= 500) return { kind: "transient", scope: "none" };
  if (status === 402) return { kind: "billing", scope: "provider" };
  if (status === 403) return { kind: "auth", scope: "provider" };
  if (status === 400 && onCreate) return { kind: "capacity", scope: "instance-type" };
  if (status >= 400 && status < 500) return { kind: "invalid", scope: "none" };
  return { kind: "fatal", scope: "none" };
}

const NEXT_STEP: Partial<Record<ProviderErrorKind, string>> = {
  auth: `check TNR_API_TOKEN (or "thunder.api_token" in Kiln's credentials file); create a token at ${THUNDER_TOKENS_PAGE}`,
  billing: "add a payment method or credit in the Thunder console (https://console.thundercompute.com), or let Kiln fail over to another provider",
  quota: "delete instances you no longer need or ask Thunder support to raise the limit; Kiln fails over to another provider meanwhile",
  capacity: "Kiln will try the next offer; `kiln offers` lists the others",
  "rate-limited": "Kiln waits and retries; nothing to do",
  transient: "Thunder's API is failing; Kiln retries, and https://www.thundercompute.com/status may say more",
};

/** A ProviderError for an HTTP error answer. `html` marks a body that was an HTML page (a proxy in between). */
export function thunderApiError(status: number, body: ThunderApiError | undefined, what: string, o: { retryAfterMs?: number; onCreate?: boolean; html?: boolean } = {}): ProviderError {
  const { kind, scope } = classifyThunderError(status, body, o.onCreate);
  const detail = body?.message ? `${body.error ? `${body.error}: ` : ""}${body.message}` : o.html ? `HTTP ${status} with an HTML page, not Thunder's JSON (a proxy or outage page)` : `HTTP ${status}`;
  return new ProviderError("thunder", kind, `Thunder ${what} failed (${detail})`, {
    scope,
    status,
    ...(body?.error !== undefined && { code: body.error }),
    ...(o.retryAfterMs !== undefined && { retryAfterMs: o.retryAfterMs }),
    ...(NEXT_STEP[kind] !== undefined && { suggestion: NEXT_STEP[kind] }),
  });
}

/** Parse `Retry-After` (delta seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

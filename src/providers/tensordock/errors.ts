/**
 * TensorDock's errors translated at the edge into Kiln's {@link ProviderErrorKind} and {@link BlockScope}.
 *
 * TensorDock documents no error codes (GUESS(tensordock): the body is read as JSON:API `errors[]`, see
 * schema.ts), so the class comes from the HTTP status, and the message separates what the status cannot: a
 * create refused for the balance (the docs: "Minimum balance: $1") or for stock at the location. Those messages
 * are matched loosely. GUESS(tensordock): the wording of both is unconfirmed; verify with a create on an account
 * under $1 and one asking for more GPUs than `max_count`.
 */
import { type BlockScope, LaunchOutcomeUnknownError, ProviderError, type ProviderErrorKind } from "../provider.js";

/** Where a TensorDock API token is made (the docs: "Generate your API token from the Developer Settings page"). */
export const TENSORDOCK_TOKENS_PAGE = "https://dashboard.tensordock.com/api";
export const TENSORDOCK_BILLING_PAGE = "https://dashboard.tensordock.com/billing";

interface Class {
  kind: ProviderErrorKind;
  scope: BlockScope;
}

const BILLING = [/balance/i, /insufficient (funds|credit)/i, /add (funds|credit)/i, /payment/i];
const CAPACITY = [/no (available )?(capacity|stock|gpus?|hostnodes?|resources)/i, /not enough (gpus?|capacity|resources|stock)/i, /insufficient (capacity|gpus?|resources|stock)/i, /out of stock/i, /(sold out|unavailable at this location|no longer available)/i, /exceeds? (the )?max(imum)?[_ ]count/i];

export const isBillingMessage = (t: string | undefined): boolean => t !== undefined && BILLING.some((re) => re.test(t));
export const isCapacityMessage = (t: string | undefined): boolean => t !== undefined && CAPACITY.some((re) => re.test(t));

/** Kind and scope for an HTTP error answer. Unknown 4xx are "fatal", never guessed retryable. */
export function classifyTensordockError(status: number, text: string | undefined): Class {
  if (status === 429) return { kind: "rate-limited", scope: "none" };
  // The token is missing, wrong or revoked: nothing on this organization works until it is fixed.
  if (status === 401 || status === 403) return { kind: "auth", scope: "provider" };
  // A balance under $1 blocks every create on the organization, wherever it is tried.
  if (status === 402 || (status < 500 && isBillingMessage(text))) return { kind: "billing", scope: "provider" };
  // Stock is per (location, GPU model): "region" here means "this location, for this GPU".
  if (status < 500 && isCapacityMessage(text)) return { kind: "capacity", scope: "region" };
  if (status === 400 || status === 404 || status === 409 || status === 422) return { kind: "invalid", scope: "none" };
  if (status >= 500) return { kind: "transient", scope: "none" };
  return { kind: "fatal", scope: "none" };
}

const NEXT_STEP: Partial<Record<ProviderErrorKind, string>> = {
  auth: `check TENSORDOCK_API_TOKEN (or "tensordock.api_token" in Kiln's credentials file); create a token at ${TENSORDOCK_TOKENS_PAGE}`,
  billing: `TensorDock needs a balance of at least $1 to create an instance: add funds at ${TENSORDOCK_BILLING_PAGE}, or let Kiln fail over to another provider`,
  capacity: "Kiln will try the next offer; `kiln offers` shows where TensorDock has stock now",
  "rate-limited": "TensorDock allows 100 requests a minute per organization; another tool may be using the same organization",
};

export function tensordockApiError(status: number, text: string | undefined, what: string, retryAfterMs?: number, bodyKind?: string): ProviderError {
  const { kind, scope } = classifyTensordockError(status, text);
  const detail = text !== undefined && text !== "" ? `HTTP ${status}: ${text}` : `HTTP ${status}${bodyKind ? ` with ${bodyKind}` : ""}`;
  return new ProviderError("tensordock", kind, `TensorDock ${what} failed (${detail})`, {
    scope,
    status,
    code: `http/${status}`,
    ...(retryAfterMs !== undefined && { retryAfterMs }),
    ...(NEXT_STEP[kind] !== undefined && { suggestion: NEXT_STEP[kind] }),
  });
}

/** A TensorDock create whose outcome is unknown (see {@link LaunchOutcomeUnknownError}). */
export function tensordockLaunchUnknown(machineName: string, cause: unknown, status?: number): LaunchOutcomeUnknownError {
  const why = status !== undefined ? `HTTP ${status}` : cause instanceof Error ? cause.message : String(cause);
  return new LaunchOutcomeUnknownError("tensordock", machineName, why, { cause, ...(status !== undefined && { status }) });
}

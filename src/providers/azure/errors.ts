/**
 * Azure errors → ProviderError kinds, by the ARM error *code* before the HTTP status (ARM answers
 * SkuNotAvailable and quota errors with 409, and a failed allocation arrives inside a long-running
 * operation with no status of its own). Quota errors name the portal's quotas page.
 *
 * What reaches us: the SDKs' `RestError` (`code` from the CloudError envelope `{error:{code,message}}`,
 * `statusCode`, `response.headers`), core-lro's plain `Error("The long-running operation has failed.
 * <code>. <message>")` for an operation that ended Failed (quirk: the code survives only in the message),
 * @azure/identity's `CredentialUnavailableError`/`AuthenticationError`, and Node network errors.
 */
import { refusedBody, responseTooLargeIn } from "../../base/bounded-body.js";
import { type ProviderErrorKind, ProviderError, LaunchOutcomeUnknownError } from "../provider.js";

export const QUOTAS_URL = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas";
export const SPOT_QUOTA_HINT = "Spot VMs count against the subscription's 'Total Regional Spot vCPUs' quota";

const CAPACITY = new Set(["SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed", "OverconstrainedAllocationRequest", "OverconstrainedZonalAllocationRequest", "SpotMaxPriceTooLow", "OperationPreempted"]);
const QUOTA = new Set(["QuotaExceeded", "SubscriptionQuotaExceeded", "ResourceQuotaExceeded", "LowPriorityQuotaExceeded"]);
const AUTH = new Set(["AuthenticationFailed", "AuthorizationFailed", "InvalidAuthenticationToken", "InvalidAuthenticationTokenTenant", "ExpiredAuthenticationToken", "LinkedAuthorizationFailed", "SubscriptionNotFound", "InvalidSubscriptionId", "MissingSubscriptionRegistration", "CredentialUnavailableError", "AuthenticationRequiredError", "AggregateAuthenticationError"]);
const RATE = new Set(["TooManyRequests", "SubscriptionRequestsThrottled", "OperationNotAllowedThrottled"]);
const TRANSIENT = new Set(["InternalServerError", "ServiceUnavailable", "InternalExecutionError", "GatewayTimeout", "RetryableError", "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "REQUEST_SEND_ERROR"]);
// OperationNotAllowed is ARM's catch-all; it is a quota only when its message says so.
const QUOTA_TEXT = /quota|exceeding approved|limit.*(cores|vcpus)/i;

interface SdkError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  response?: { headers?: { get?(n: string): string | undefined } | Record<string, string> };
  details?: unknown;
}

const asSdk = (e: unknown): SdkError => (typeof e === "object" && e !== null ? (e as SdkError) : {});

const LRO_FAILED = /long-running operation has failed\.\s*([A-Za-z]+)\.\s*(.*)$/s;

/** The ARM code of an error: the envelope's, an LRO failure's, or an identity error's class name. */
export function errorCode(e: unknown): string | undefined {
  const s = asSdk(e);
  const lro = LRO_FAILED.exec(s.message ?? "");
  if (lro) return lro[1];
  if (s.code) return s.code;
  if (s.name && s.name !== "Error" && s.name !== "RestError") return s.name;
  return undefined;
}

function header(e: unknown, name: string): string | undefined {
  const h = asSdk(e).response?.headers;
  if (!h) return undefined;
  if (typeof (h as { get?: unknown }).get === "function") return (h as { get(n: string): string | undefined }).get(name);
  return (h as Record<string, string>)[name] ?? (h as Record<string, string>)[name.toLowerCase()];
}

/** Retry-After (seconds or an HTTP date) in ms, capped at five minutes. */
export function retryAfterMs(e: unknown, now = Date.now()): number | undefined {
  const v = header(e, "retry-after");
  if (v === undefined) return undefined;
  const secs = Number(v);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), 300_000) : undefined;
}

function kindOf(code: string | undefined, status: number | undefined, message: string): ProviderErrorKind {
  if (code !== undefined) {
    if (CAPACITY.has(code)) return "capacity";
    if (QUOTA.has(code)) return "quota";
    if (code === "OperationNotAllowed") return QUOTA_TEXT.test(message) ? "quota" : "invalid";
    if (AUTH.has(code)) return "auth";
    if (RATE.has(code)) return "rate-limited";
    if (TRANSIENT.has(code)) return "transient";
  }
  if (status === 401 || status === 403) return "auth";
  if (status === 429) return "rate-limited";
  if (status !== undefined && status >= 500) return "transient";
  if (status === undefined) return "transient"; // never answered: reset, refused, timeout
  if (status >= 400) return "invalid";
  return "fatal";
}

const ADVICE: Partial<Record<ProviderErrorKind, string>> = {
  quota: `ask for more vCPUs of the size's family (or Spot vCPUs) at ${QUOTAS_URL}`,
  auth: "run `az login` (or set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET) and AZURE_SUBSCRIPTION_ID; `kiln check` names the permissions missing",
  capacity: "Kiln tries the next offer; another region or size may have capacity",
};

/** Whether the SDK failed to read a response body (an HTML page from a proxy, truncated JSON). */
export function isUnreadableResponse(e: unknown): boolean {
  const s = asSdk(e);
  return s.name === "SyntaxError" || /unexpected token|is not valid json|error occurred while deserializing|parse/i.test(s.message ?? "");
}

/**
 * The ProviderError for an SDK failure during `op`. A network failure or an unreadable body during a
 * launch makes its outcome unknown (`maybeLaunched` with `machineName`).
 */
export function toProviderError(e: unknown, op: string, o: { machineName?: string; region?: string } = {}): ProviderError {
  if (e instanceof ProviderError) return e;
  // Refused by the bounded HTTP client (./client.ts): not retried; on a launch's success it may exist.
  const big = responseTooLargeIn(e);
  if (big) {
    const why = refusedBody(`Azure ${op}`, big);
    if (o.machineName && big.status < 300) return new LaunchOutcomeUnknownError("azure", o.machineName, why, { cause: e, status: big.status });
    return new ProviderError("azure", "fatal", why, { cause: e, code: "kiln/response-too-large", status: big.status });
  }
  const s = asSdk(e);
  const code = errorCode(e);
  const status = s.statusCode;
  const raw = LRO_FAILED.exec(s.message ?? "")?.[2] ?? s.message ?? String(e);
  if (isUnreadableResponse(e) && !(code && (CAPACITY.has(code) || QUOTA.has(code) || AUTH.has(code)))) {
    const why = `Azure answered ${op} with a body that is not Azure's JSON (HTTP ${status ?? "?"}; an HTML page from a proxy?)`;
    if (o.machineName) return new LaunchOutcomeUnknownError("azure", o.machineName, why, { cause: e, ...(status !== undefined && { status }) });
    return new ProviderError("azure", "transient", why, { cause: e, code: "kiln/unreadable-response", ...(status !== undefined && { status }) });
  }
  const kind = kindOf(code, status, raw);
  if (o.machineName && status === undefined && kind === "transient" && !code?.startsWith("Allocation")) {
    return new LaunchOutcomeUnknownError("azure", o.machineName, `${op}: ${raw}`, { cause: e });
  }
  const retry = retryAfterMs(e);
  const scope = kind === "capacity" ? (code === "SkuNotAvailable" ? "instance-type" : "region") : kind === "quota" || kind === "auth" ? "provider" : "none";
  const suggestion = kind === "quota" && /spot|lowpriority/i.test(raw) ? `${ADVICE.quota}; ${SPOT_QUOTA_HINT}` : ADVICE[kind];
  return new ProviderError("azure", kind, `Azure ${op}${o.region ? ` in ${o.region}` : ""}: ${code ? `${code}: ` : ""}${raw.split("\n")[0]}`, {
    cause: e,
    scope,
    ...(status !== undefined && { status }),
    ...(code !== undefined && { code }),
    ...(retry !== undefined && { retryAfterMs: retry }),
    ...(suggestion !== undefined && { suggestion }),
  });
}

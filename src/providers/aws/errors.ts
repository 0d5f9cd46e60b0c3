/**
 * EC2 errors → ProviderError kinds, by the error *code* before the HTTP status: EC2 answers
 * InsufficientInstanceCapacity with a 500, which by status would read as a transient server error, and
 * throttling (RequestLimitExceeded) with a 503. Quotas name the Service Quotas page that raises them.
 */
import { refusedBody, responseTooLargeIn } from "../../base/bounded-body.js";
import { type ProviderErrorKind, ProviderError } from "../provider.js";

export const SERVICE_QUOTAS_URL = (region: string) => `https://${region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas`;
export const SPOT_QUOTAS_HINT = "Spot: the 'All … Spot Instance Requests' quota of the instance family";

const CAPACITY = new Set(["InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity", "InsufficientCapacity", "SpotMaxPriceTooLow", "InsufficientCapacityOnHost", "Unsupported"]);
const QUOTA = new Set(["InstanceLimitExceeded", "VcpuLimitExceeded", "MaxSpotInstanceCountExceeded", "ResourceLimitExceeded", "SecurityGroupLimitExceeded", "RulesPerSecurityGroupLimitExceeded", "KeyPairLimitExceeded", "InsufficientFreeAddressesInSubnet"]);
const AUTH = new Set(["AuthFailure", "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException", "RequestExpired", "OptInRequired", "Blocked", "PendingVerification", "CredentialsProviderError"]);
const RATE = new Set(["RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestThrottled", "SlowDown"]);
const TRANSIENT = new Set(["InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "TimeoutError", "RequestTimeout", "RequestTimeoutException", "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "NetworkingError", "IdempotentParameterMismatch"]);
const INVALID_PREFIX = ["Invalid", "Missing", "Malformed", "Unknown", "DryRunOperation"];

/** What the AWS SDK throws: a ServiceException (name = the EC2 code) or a Node/network error. */
interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
  $retryable?: unknown;
}

const asSdk = (e: unknown): SdkError => (typeof e === "object" && e !== null ? (e as SdkError) : {});

export function errorCode(e: unknown): string | undefined {
  const s = asSdk(e);
  return s.name && s.name !== "Error" ? s.name : s.code;
}

export function errorStatus(e: unknown): number | undefined {
  const s = asSdk(e);
  return s.$metadata?.httpStatusCode ?? s.$response?.statusCode;
}

function kindOf(code: string | undefined, status: number | undefined): ProviderErrorKind {
  if (code !== undefined) {
    if (CAPACITY.has(code)) return "capacity";
    if (QUOTA.has(code)) return "quota";
    if (AUTH.has(code)) return "auth";
    if (RATE.has(code)) return "rate-limited";
    if (TRANSIENT.has(code)) return "transient";
    if (INVALID_PREFIX.some((p) => code.startsWith(p))) return "invalid";
  }
  if (status === 401 || status === 403) return "auth";
  if (status === 429) return "rate-limited";
  if (status !== undefined && status >= 500) return "transient";
  // No status at all: the request never got an answer (reset, refused, timeout).
  if (status === undefined) return "transient";
  if (status >= 400) return "invalid";
  return "fatal";
}

/**
 * Whether the SDK failed to read a *response* (an HTML page from a proxy, a truncated or malformed XML
 * body): its deserializer throws with the raw response attached, or a SyntaxError-like message.
 */
const isUnreadable = (e: unknown): boolean => {
  const m = asSdk(e).message ?? "";
  return /Deserialization error|not well-formed|Unexpected token|parse|Expected closing tag|Unknown/i.test(m) && errorStatus(e) !== undefined;
};

/**
 * The ProviderError for an SDK failure of `operation` in `region`. Already-classified ProviderErrors pass
 * through; an aborted call is rethrown as is (the caller asked for it).
 */
export function toProviderError(e: unknown, operation: string, region: string): ProviderError {
  if (e instanceof ProviderError) return e;
  // Refused by the bounded-response middleware (../../base/bounded-sdk.ts): never retried, it would come back as big.
  const big = responseTooLargeIn(e);
  if (big) return new ProviderError("aws", "fatal", refusedBody(`AWS ${operation} in ${region}`, big), { code: "kiln/response-too-large", status: big.status, cause: e });
  const code = errorCode(e);
  const status = errorStatus(e);
  const raw = asSdk(e).message ?? String(e);
  let kind = kindOf(code, status);
  let message = `AWS ${operation} in ${region} failed: ${code ?? "no response"}${status !== undefined ? ` (HTTP ${status})` : ""}: ${raw.slice(0, 300)}`;
  let suggestion: string | undefined;
  if (isUnreadable(e) && !(code && (CAPACITY.has(code) || QUOTA.has(code) || AUTH.has(code) || RATE.has(code)))) {
    // An HTML error page or a broken body: not EC2's XML envelope. Retry (a proxy or load balancer hiccup).
    kind = status !== undefined && status < 500 && status !== 429 ? "fatal" : "transient";
    message = `AWS ${operation} in ${region}: the response (HTTP ${status ?? "?"}) is not EC2's XML error envelope (an HTML page from a proxy?): ${raw.slice(0, 200)}`;
  }
  if (kind === "quota") suggestion = `raise it in Service Quotas: ${SERVICE_QUOTAS_URL(region)} (${code === "MaxSpotInstanceCountExceeded" ? SPOT_QUOTAS_HINT : "'Running On-Demand G and VT instances' / 'P instances' vCPU quotas"})`;
  if (kind === "auth") suggestion = "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE and ~/.aws/credentials), then run: kiln check aws";
  if (kind === "capacity") suggestion = "EC2 has no capacity for this type here now; another availability zone, region or type may";
  return new ProviderError("aws", kind, message, {
    ...(code !== undefined && { code }),
    ...(status !== undefined && { status }),
    ...(suggestion !== undefined && { suggestion }),
    scope: kind === "capacity" ? "instance-type" : kind === "quota" ? "provider" : "none",
    cause: e,
  });
}

/** Whether `e` is an abort the caller asked for (never classified: it propagates as is). */
export const isAbort = (e: unknown, signal: AbortSignal): boolean => signal.aborted && (asSdk(e).name === "AbortError" || e === signal.reason);

/**
 * GCE's errors translated at the edge into Kiln's {@link ProviderErrorKind}, body code before status
 * (docs/lifecycle.md §12). Two places carry them:
 * - synchronous HTTP answers in Google's envelope (`error.errors[].reason`, `error.status`), and
 * - the operation a mutation returns, which can fail *after* the insert answered 200
 *   (`Operation.error.errors[].code`: ZONE_RESOURCE_POOL_EXHAUSTED, QUOTA_EXCEEDED, …).
 */
import { type BlockScope, LaunchOutcomeUnknownError, ProviderError, type ProviderErrorKind } from "../provider.js";
import type { GoogleErrorBody, Operation } from "./schema.js";

interface Class {
  kind: ProviderErrorKind;
  scope: BlockScope;
}

/** Synchronous `reason`s (Google's "standard error reasons"; the ones GCE uses for these cases [A]). */
const BY_REASON: Record<string, Class> = {
  rateLimitExceeded: { kind: "rate-limited", scope: "none" },
  userRateLimitExceeded: { kind: "rate-limited", scope: "none" },
  quotaExceeded: { kind: "quota", scope: "provider" },
  authError: { kind: "auth", scope: "provider" },
  required: { kind: "auth", scope: "provider" },
  forbidden: { kind: "auth", scope: "provider" },
  insufficientPermissions: { kind: "auth", scope: "provider" },
  // The Compute Engine API is not enabled on the project: no launch can work until it is.
  accessNotConfigured: { kind: "auth", scope: "provider" },
  billingNotEnabled: { kind: "billing", scope: "provider" },
  accountDisabled: { kind: "billing", scope: "provider" },
  invalid: { kind: "invalid", scope: "none" },
  badRequest: { kind: "invalid", scope: "none" },
  backendError: { kind: "transient", scope: "none" },
  internalError: { kind: "transient", scope: "none" },
};

/** Operation error codes. Capacity is per zone for one machine type (the offer's `region` is its zone). */
const BY_OPERATION_CODE: Record<string, Class> = {
  ZONE_RESOURCE_POOL_EXHAUSTED: { kind: "capacity", scope: "region" },
  ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: { kind: "capacity", scope: "region" },
  // Spot capacity and general stockouts show under these too [A, SkyPilot/dstack failover lists].
  RESOURCE_POOL_EXHAUSTED: { kind: "capacity", scope: "region" },
  STOCKOUT: { kind: "capacity", scope: "region" },
  QUOTA_EXCEEDED: { kind: "quota", scope: "provider" },
  RESOURCE_NOT_FOUND: { kind: "invalid", scope: "none" },
  INVALID_FIELD_VALUE: { kind: "invalid", scope: "none" },
};

export const quotasUrl = (project: string): string => `https://console.cloud.google.com/iam-admin/quotas?project=${encodeURIComponent(project)}`;

const NEXT_STEP = (project: string): Partial<Record<ProviderErrorKind, string>> => ({
  auth: "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key), make sure the Compute Engine API is enabled, and that the principal may create, get and delete instances in the project",
  quota: `raise the GPU quota for the region at ${quotasUrl(project)}, or let Kiln fail over to another provider`,
  billing: `enable billing on project ${project}: https://console.cloud.google.com/billing/linkedaccount?project=${encodeURIComponent(project)}`,
  capacity: "Kiln will try the next zone or offer; Spot capacity changes by the minute",
});

export function classifyHttp(status: number, reason: string | undefined, googleStatus: string | undefined): Class {
  const known = reason === undefined ? undefined : BY_REASON[reason];
  if (known) return known;
  if (status === 429) return { kind: "rate-limited", scope: "none" };
  if (status === 401) return { kind: "auth", scope: "provider" };
  if (status === 403) return googleStatus === "RESOURCE_EXHAUSTED" ? { kind: "rate-limited", scope: "none" } : { kind: "auth", scope: "provider" };
  if (status >= 500 || status === 408) return { kind: "transient", scope: "none" };
  if (status === 400 || status === 404 || status === 409) return { kind: "invalid", scope: "none" };
  return { kind: "fatal", scope: "none" };
}

/** A ProviderError for a synchronous HTTP error answer (`body` undefined: not Google's JSON, e.g. an HTML page). */
export function gcpHttpError(project: string, status: number, body: GoogleErrorBody | undefined, what: string, o: { retryAfterMs?: number; raw?: string; cause?: unknown } = {}): ProviderError {
  const reason = body?.error.errors?.[0]?.reason;
  const { kind, scope } = classifyHttp(status, reason, body?.error.status);
  const detail = body ? `${reason ?? body.error.status ?? status}: ${body.error.message ?? ""}`.trim() : `HTTP ${status}, not Google's JSON error: ${JSON.stringify((o.raw ?? "").slice(0, 80))}`;
  return new ProviderError("gcp", kind, `GCE ${what} failed (${detail})`, {
    scope,
    status,
    ...(reason !== undefined && { code: reason }),
    ...(o.retryAfterMs !== undefined && { retryAfterMs: o.retryAfterMs }),
    suggestion: NEXT_STEP(project)[kind],
    ...(o.cause !== undefined && { cause: o.cause }),
  });
}

/** A ProviderError for an operation that finished with an error (undefined when it did not). */
export function gcpOperationError(project: string, op: Operation, what: string): ProviderError | undefined {
  const errors = op.error?.errors ?? [];
  if (errors.length === 0) return undefined;
  const first = errors.find((e) => e.code && BY_OPERATION_CODE[e.code]) ?? errors[0]!;
  const code = first.code ?? "UNKNOWN";
  const c = BY_OPERATION_CODE[code] ?? (op.httpErrorStatusCode ? classifyHttp(op.httpErrorStatusCode, undefined, undefined) : { kind: "fatal" as const, scope: "none" as const });
  const zone = op.zone ? ` in ${op.zone.split("/").pop()}` : "";
  return new ProviderError("gcp", c.kind, `GCE ${what}${zone} failed in its operation (${code}: ${first.message ?? op.httpErrorMessage ?? ""})`.replace(/: \)$/, ")"), {
    scope: c.scope,
    code,
    ...(op.httpErrorStatusCode != null && { status: op.httpErrorStatusCode }),
    suggestion: NEXT_STEP(project)[c.kind],
  });
}

export function gcpLaunchUnknown(machineName: string, why: string, cause?: unknown): LaunchOutcomeUnknownError {
  return new LaunchOutcomeUnknownError("gcp", machineName, why, cause === undefined ? {} : { cause });
}

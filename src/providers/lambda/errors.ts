/**
 * Lambda's error codes (spec 1.8.3, providers.md §1.4) translated at the edge into Kiln's
 * {@link ProviderErrorKind} and {@link BlockScope}. Classification branches on `code` and HTTP status
 * only: Lambda says `message` and `suggestion` may change.
 */
import { type BlockScope, isMaybeLaunched, LaunchOutcomeUnknownError, ProviderError, type ProviderErrorKind } from "../provider.js";
import type { LambdaApiError } from "./schema.js";

interface Class {
  kind: ProviderErrorKind;
  scope: BlockScope;
}

const BY_CODE: Record<string, Class> = {
  "global/invalid-api-key": { kind: "auth", scope: "provider" },
  "global/account-inactive": { kind: "auth", scope: "provider" },
  // A billing-address problem blocks every launch on the account, like a bad key: stop and fix it.
  "global/invalid-address": { kind: "auth", scope: "provider" },
  // Capacity is per (type, region); "region" here means "this region, for this instance type".
  "instance-operations/launch/insufficient-capacity": { kind: "capacity", scope: "region" },
  "global/quota-exceeded": { kind: "quota", scope: "provider" },
  "global/invalid-parameters": { kind: "invalid", scope: "none" },
  "instance-operations/launch/file-system-in-wrong-region": { kind: "invalid", scope: "region" },
  "global/object-does-not-exist": { kind: "invalid", scope: "none" },
  "global/duplicate": { kind: "invalid", scope: "none" },
  "filesystems/filesystem-in-use": { kind: "invalid", scope: "none" },
  "firewall-rulesets/firewall-ruleset-in-use": { kind: "invalid", scope: "none" },
  // The spec answers 409 global/internal-error for ruleset races; it asks to try again later.
  "global/internal-error": { kind: "transient", scope: "none" },
};

/** Kind and scope for an HTTP error answer. Unknown codes on 4xx are "fatal", never guessed retryable. */
export function classifyLambdaError(status: number, code: string | undefined): Class {
  if (status === 429) return { kind: "rate-limited", scope: "none" };
  const known = code === undefined ? undefined : BY_CODE[code];
  if (known) return known;
  if (code?.startsWith("provider/")) return { kind: "transient", scope: "none" };
  if (status >= 500) return { kind: "transient", scope: "none" };
  if (status === 401) return { kind: "auth", scope: "provider" };
  return { kind: "fatal", scope: "none" };
}

/** What the user should do next, per kind, when Lambda sent no suggestion of its own. */
const NEXT_STEP: Partial<Record<ProviderErrorKind, string>> = {
  auth: "check LAMBDA_API_KEY (or `lambda.api_key` in Kiln's credentials file); create a key at https://cloud.lambda.ai/api-keys",
  quota: "ask Lambda Support to raise the quota, or let Kiln fail over to another provider",
  capacity: "Kiln will try the next offer; `kiln offers` shows where capacity exists now",
};

export function lambdaApiError(status: number, body: LambdaApiError | undefined, what: string, retryAfterMs?: number): ProviderError {
  const { kind, scope } = classifyLambdaError(status, body?.code);
  const detail = body ? `${body.code}: ${body.message}` : `HTTP ${status}`;
  return new ProviderError("lambda", kind, `Lambda ${what} failed (${detail})`, {
    scope,
    status,
    ...(body?.code !== undefined && { code: body.code }),
    ...(retryAfterMs !== undefined && { retryAfterMs }),
    suggestion: body?.suggestion ?? NEXT_STEP[kind],
  });
}

/** A Lambda launch whose outcome is unknown (see {@link LaunchOutcomeUnknownError}). */
export function lambdaLaunchUnknown(machineName: string, cause: unknown, status?: number): LaunchOutcomeUnknownError {
  return new LaunchOutcomeUnknownError("lambda", machineName, causeText(cause, status), { cause, ...(status !== undefined && { status }) });
}

export { isMaybeLaunched, LaunchOutcomeUnknownError };

function causeText(cause: unknown, status: number | undefined): string {
  if (status !== undefined) return `HTTP ${status}`;
  return cause instanceof Error ? cause.message : String(cause);
}

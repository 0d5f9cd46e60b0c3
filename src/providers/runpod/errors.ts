/**
 * RunPod's errors translated at the edge into Kiln's {@link ProviderErrorKind} and {@link BlockScope}.
 *
 * REST v2 answers RFC 9457 problem+json `{title, status, detail, errors?}` with no machine-readable code, so
 * the class comes from the status, and the body only separates what the status cannot: createPod's 400 is
 * both "your request breaks a rule" and "no capacity" (api-reference-v2 createPod: "capacity exhaustion
 * currently carries no machine-readable code of its own — only a human-readable detail"), so the detail is
 * matched against the capacity messages RunPod is known to send. GraphQL answers HTTP 200 with `errors[]`;
 * there the `extensions.code` (SUPPLY_CONSTRAINT) or the same messages decide.
 */
import { type BlockScope, LaunchOutcomeUnknownError, ProviderError, type ProviderErrorKind } from "../provider.js";
import type { RunpodGraphqlError, RunpodProblem } from "./schema.js";

export const RUNPOD_KEYS_PAGE = "https://www.runpod.io/console/user/settings";

interface Class {
  kind: ProviderErrorKind;
  scope: BlockScope;
}

/**
 * Capacity messages seen from RunPod (providers.md §2.1: runpodctl#189, runpod-python#297, community), all
 * about the (GPU type, data centre) that was asked for. Matched loosely: RunPod says messages may change.
 */
const CAPACITY = [/no longer any instances available/i, /not have the resources to deploy/i, /no compatible cuda host/i, /no (gpu|instances?|machines?) (is |are )?(currently )?available/i, /out of stock/i, /insufficient capacity/i];

export const isCapacityMessage = (text: string | undefined): boolean => text !== undefined && CAPACITY.some((re) => re.test(text));

/** Kind and scope for an HTTP error answer of REST v2 (or of GraphQL, which answers 401 for an unknown key). */
export function classifyRunpodError(status: number, detail: string | undefined): Class {
  if (status === 429) return { kind: "rate-limited", scope: "none" };
  // The key is missing, wrong or lacks the permission: nothing on this account will work until it is fixed.
  // (createPod's 403 is "your account cannot access the requested pool", which the spec says to skip; a key
  // without pod access answers the same 403 on every pool, so Kiln rules the provider out either way.)
  if (status === 401 || status === 403) return { kind: "auth", scope: "provider" };
  if (status === 402) return { kind: "billing", scope: "provider" };
  // Capacity is per (GPU type, data centre): "region" means "this data centre, for this GPU type".
  if (status === 400 && isCapacityMessage(detail)) return { kind: "capacity", scope: "region" };
  if (status === 400 || status === 422 || status === 409 || status === 404) return { kind: "invalid", scope: "none" };
  if (status >= 500) return { kind: "transient", scope: "none" };
  return { kind: "fatal", scope: "none" };
}

const NEXT_STEP: Partial<Record<ProviderErrorKind, string>> = {
  auth: `check RUNPOD_API_KEY (or "runpod.api_key" in Kiln's credentials file); the key needs read/write access to pods. Create one at ${RUNPOD_KEYS_PAGE}`,
  billing: "add funds to the RunPod account (https://www.runpod.io/console/user/billing), or let Kiln fail over to another provider",
  capacity: "Kiln will try the next offer; `kiln offers` shows where stock exists now",
};

export function runpodApiError(status: number, problem: RunpodProblem | undefined, what: string, retryAfterMs?: number, bodyKind?: string): ProviderError {
  const { kind, scope } = classifyRunpodError(status, problem?.detail);
  const detail = problem ? `${problem.status} ${problem.title}: ${problem.detail}${problem.errors?.length ? ` (${problem.errors.slice(0, 3).join("; ")})` : ""}` : `HTTP ${status}${bodyKind ? ` with ${bodyKind}` : ""}`;
  return new ProviderError("runpod", kind, `RunPod ${what} failed (${detail})`, {
    scope,
    status,
    code: problem ? `runpod/${status}` : `http/${status}`,
    ...(retryAfterMs !== undefined && { retryAfterMs }),
    ...(NEXT_STEP[kind] !== undefined && { suggestion: NEXT_STEP[kind] }),
  });
}

/** A GraphQL `errors[]` answer (HTTP 200) as a ProviderError. */
export function runpodGraphqlError(errors: readonly RunpodGraphqlError[], what: string): ProviderError {
  const first = errors[0];
  const code = first?.extensions?.code;
  const message = first?.message ?? "an error without a message";
  let c: Class;
  if (code === "SUPPLY_CONSTRAINT" || isCapacityMessage(message)) c = { kind: "capacity", scope: "region" };
  else if (code === "UNAUTHENTICATED" || code === "FORBIDDEN") c = { kind: "auth", scope: "provider" };
  else if (code === "INTERNAL_SERVER_ERROR") c = { kind: "transient", scope: "none" };
  else if (code === "GRAPHQL_VALIDATION_FAILED" || code === "BAD_USER_INPUT" || code === "GRAPHQL_PARSE_FAILED") c = { kind: "invalid", scope: "none" };
  else c = { kind: "fatal", scope: "none" };
  return new ProviderError("runpod", c.kind, `RunPod ${what} failed (${code ? `${code}: ` : ""}${message})`, {
    scope: c.scope,
    status: 200,
    code: code ? `graphql/${code}` : "graphql/error",
    ...(NEXT_STEP[c.kind] !== undefined && { suggestion: NEXT_STEP[c.kind] }),
  });
}

/** A RunPod launch whose outcome is unknown (see {@link LaunchOutcomeUnknownError}). */
export function runpodLaunchUnknown(machineName: string, cause: unknown, status?: number): LaunchOutcomeUnknownError {
  const why = status !== undefined ? `HTTP ${status}` : cause instanceof Error ? cause.message : String(cause);
  return new LaunchOutcomeUnknownError("runpod", machineName, why, { cause, ...(status !== undefined && { status }) });
}

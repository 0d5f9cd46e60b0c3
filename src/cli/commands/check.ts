/**
 * `kiln check`: are the configured cloud credentials valid? Lambda: the key from LAMBDA_API_KEY or
 * Kiln's credentials file is tried with one read-only call. A provider without credentials is
 * reported as not configured (not an error: the local GPU needs none).
 */
import { UserError } from "../../base/errors.js";
import { ProviderError } from "../../providers/provider.js"; // no imports of its own: cheap at start-up
import { defineCommand } from "../command.js";

export const LAMBDA_KEYS_PAGE = "https://cloud.lambda.ai/api-keys";

/** An unsafe or malformed credentials file (a ProviderError) as the UserError that says how to fix it. */
export function credentialsError(e: unknown): unknown {
  return e instanceof ProviderError ? new UserError(e.message, { cause: e, ...(e.suggestion !== undefined && { hint: e.suggestion }) }) : e;
}

export const checkCommand = defineCommand({
  name: "check",
  summary: "Check the cloud credentials Kiln has (Lambda: LAMBDA_API_KEY or the credentials file)",
  details: "KILN_LAMBDA_API_URL points Kiln at another Lambda API (e.g. `kiln emulate lambda`).",
  async handler(ctx) {
    // Loaded on use (the Lambda client and its zod schemas): the command table is imported by every `kiln` invocation.
    const { loadLambdaCredentials } = await import("../../providers/credentials.js");
    const { checkLambdaKey } = await import("../../providers/lambda/check.js");
    const creds = await loadLambdaCredentials({ env: ctx.env, credentialsPath: ctx.paths.credentials }).catch((e: unknown) => {
      throw credentialsError(e);
    });
    if (!creds) {
      ctx.io.out(`lambda  not configured: set LAMBDA_API_KEY, or put {"lambda": {"api_key": "…"}} in ${ctx.paths.credentials} (chmod 600)\n`);
      return 0;
    }
    const baseUrl = ctx.env["KILN_LAMBDA_API_URL"] || undefined;
    try {
      const r = await checkLambdaKey({ apiKey: creds.apiKey.reveal(), baseUrl, log: ctx.logger.child("lambda") }, ctx.signal);
      const cheapest = r.cheapestAvailable ? `; cheapest available: ${r.cheapestAvailable.instanceType} in ${r.cheapestAvailable.region} at $${r.cheapestAvailable.pricePerHour.toFixed(2)}/h` : "";
      ctx.io.out(`lambda  ok: key from ${creds.source} works (${r.instanceTypes} instance types, ${r.withCapacity} with capacity now${cheapest})\n`);
      return 0;
    } catch (e) {
      if (!(e instanceof ProviderError)) throw e;
      if (e.kind === "auth") {
        throw new UserError(`Lambda rejected the API key from ${creds.source} (${e.code ?? `HTTP ${e.status ?? "?"}`})`, {
          cause: e,
          hint: `create a key at ${LAMBDA_KEYS_PAGE}, then set LAMBDA_API_KEY or "lambda.api_key" in ${ctx.paths.credentials} (mode 0600)`,
        });
      }
      throw new UserError(`could not check Lambda: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
    }
  },
});

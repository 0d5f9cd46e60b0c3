/**
 * `kiln check`: are the configured cloud credentials valid? Each rentable cloud in the registry is tried
 * with one read-only call. A cloud without credentials is reported as not configured (not an error: the
 * local GPU needs none), with how to configure it.
 */
import { UserError } from "../../base/errors.js";
import { ProviderError } from "../../providers/provider.js"; // no imports of its own: cheap at start-up
import { defineCommand } from "../command.js";

/** An unsafe or malformed credentials file (a ProviderError) as the UserError that says how to fix it. */
export function credentialsError(e: unknown): unknown {
  return e instanceof ProviderError ? new UserError(e.message, { cause: e, ...(e.suggestion !== undefined && { hint: e.suggestion }) }) : e;
}

export const checkCommand = defineCommand({
  name: "check",
  summary: "Check the cloud credentials Kiln has (each rentable cloud: its env vars or the credentials file)",
  details: "A cloud's API URL variable (e.g. KILN_LAMBDA_API_URL) points Kiln at an emulator (`kiln emulate NAME`).",
  async handler(ctx) {
    const { rentableClouds } = await import("../../providers/registry.js");
    const { howToConfigure } = await import("../../core/lifecycle/providers.js");
    const pctx = { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger };
    for (const d of rentableClouds()) {
      const line = await d.check?.(pctx, ctx.signal).catch((e: unknown) => {
        throw credentialsError(e);
      });
      ctx.io.out(line === undefined ? `${d.name}  not configured: ${howToConfigure(d, ctx.paths.credentials)}\n` : `${d.name}  ok: ${line}\n`);
    }
    return 0;
  },
});

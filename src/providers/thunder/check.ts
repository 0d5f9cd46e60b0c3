/**
 * `kiln check` for Thunder: one read-only authenticated call (the listing; the live `/v1/auth/validate` the
 * CLI uses is not in the spec), naming what it found.
 */
import { UserError } from "../../base/errors.js";
import type { ProviderContext } from "../descriptor.js";
import { ProviderError } from "../provider.js";
import { ThunderClient } from "./client.js";
import { loadThunderCredentials } from "./credentials.js";
import { THUNDER_TOKENS_PAGE } from "./errors.js";
import { markerOf } from "./marker.js";

export async function checkThunder(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const creds = await loadThunderCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const client = new ThunderClient({ token: creds.apiKey.reveal(), baseUrl: ctx.env["KILN_THUNDER_API_URL"] || undefined, log: ctx.logger.child("thunder"), maxAttempts: 2 });
  try {
    const instances = await client.listInstances(signal);
    const kiln = instances.filter((i) => markerOf(i.sshPublicKeys) !== undefined).length;
    return `token from ${creds.source} works (account ${client.accountId.slice(0, 8)}…: ${instances.length} instance(s), ${kiln} of them Kiln's)`;
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") {
      throw new UserError(`Thunder rejected the token from ${creds.source} (HTTP ${e.status ?? "?"})`, { cause: e, hint: `create a token at ${THUNDER_TOKENS_PAGE}, then set TNR_API_TOKEN or "thunder.api_token" in ${ctx.credentialsPath} (mode 0600)` });
    }
    throw new UserError(`could not check Thunder: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  }
}

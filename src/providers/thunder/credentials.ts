/**
 * Thunder's credential: one API token, from `TNR_API_TOKEN` (what Thunder's own `tnr` CLI reads first) or the
 * `thunder` section of Kiln's 0600 credentials file. Thunder documents no scopes: the token can launch too.
 */
import { z } from "zod";
import { type ApiKeyCredentials, credentialsSection, Secret } from "../credentials.js";

export const THUNDER_FILE_EXAMPLE = '{"thunder": {"api_token": "…"}}';
const section = z.strictObject({ api_token: z.string().min(1) });

/** `TNR_API_TOKEN` if set and non-empty, else `thunder.api_token` from the file, else undefined (not configured). */
export async function loadThunderCredentials(o: { env: NodeJS.ProcessEnv; credentialsPath: string }): Promise<ApiKeyCredentials | undefined> {
  const fromEnv = o.env["TNR_API_TOKEN"]?.trim();
  if (fromEnv) return { provider: "thunder", apiKey: new Secret(fromEnv), source: "TNR_API_TOKEN" };
  const token = (await credentialsSection(o.credentialsPath, "thunder", section, THUNDER_FILE_EXAMPLE))?.api_token.trim();
  return token ? { provider: "thunder", apiKey: new Secret(token), source: o.credentialsPath } : undefined;
}

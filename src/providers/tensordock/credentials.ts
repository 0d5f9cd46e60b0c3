/**
 * TensorDock's credential: one API token (the docs: "Generate your API token from the Developer Settings page,
 * then use the Bearer token in your Authorization header"), from `TENSORDOCK_API_TOKEN` or the `tensordock`
 * section of Kiln's 0600 credentials file. The legacy v0 API's key + token pair is not used.
 */
import { z } from "zod";
import { type ApiKeyCredentials, credentialsSection, Secret } from "../credentials.js";

export { TENSORDOCK_TOKENS_PAGE } from "./errors.js";
const section = z.strictObject({ api_token: z.string().min(1) });
export const TENSORDOCK_FILE_EXAMPLE = '{"tensordock": {"api_token": "…"}}';
export const TENSORDOCK_TOKEN_ENV = "TENSORDOCK_API_TOKEN";

/** `TENSORDOCK_API_TOKEN` if set and non-empty, else `tensordock.api_token` from the file, else undefined (not configured). */
export async function loadTensordockCredentials(opts: { env: NodeJS.ProcessEnv; credentialsPath: string }): Promise<ApiKeyCredentials | undefined> {
  const fromEnv = opts.env[TENSORDOCK_TOKEN_ENV]?.trim();
  if (fromEnv) return { provider: "tensordock", apiKey: new Secret(fromEnv), source: TENSORDOCK_TOKEN_ENV };
  const token = (await credentialsSection(opts.credentialsPath, "tensordock", section, TENSORDOCK_FILE_EXAMPLE))?.api_token.trim();
  return token ? { provider: "tensordock", apiKey: new Secret(token), source: opts.credentialsPath } : undefined;
}

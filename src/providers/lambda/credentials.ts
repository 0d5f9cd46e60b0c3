/** Lambda's credential: one API key, from `LAMBDA_API_KEY` or the `lambda` section of Kiln's 0600 credentials file. */
import { z } from "zod";
import { type ApiKeyCredentials, credentialsSection, Secret } from "../credentials.js";

export const LAMBDA_KEYS_PAGE = "https://cloud.lambda.ai/api-keys";
const section = z.strictObject({ api_key: z.string().min(1) });
export const LAMBDA_FILE_EXAMPLE = '{"lambda": {"api_key": "…"}}';

/** `LAMBDA_API_KEY` if set and non-empty, else `lambda.api_key` from the file, else undefined (not configured). */
export async function loadLambdaCredentials(opts: { env: NodeJS.ProcessEnv; credentialsPath: string }): Promise<ApiKeyCredentials | undefined> {
  const fromEnv = opts.env["LAMBDA_API_KEY"]?.trim();
  if (fromEnv) return { provider: "lambda", apiKey: new Secret(fromEnv), source: "LAMBDA_API_KEY" };
  const key = (await credentialsSection(opts.credentialsPath, "lambda", section, LAMBDA_FILE_EXAMPLE))?.api_key.trim();
  return key ? { provider: "lambda", apiKey: new Secret(key), source: opts.credentialsPath } : undefined;
}

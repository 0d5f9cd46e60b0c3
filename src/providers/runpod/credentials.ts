/** RunPod's credential: one API key, from `RUNPOD_API_KEY` or the `runpod` section of Kiln's 0600 credentials file. */
import { z } from "zod";
import { type ApiKeyCredentials, credentialsSection, Secret } from "../credentials.js";

export { RUNPOD_KEYS_PAGE } from "./errors.js";
const section = z.strictObject({ api_key: z.string().min(1) });
export const RUNPOD_FILE_EXAMPLE = '{"runpod": {"api_key": "rpa_…"}}';

/** `RUNPOD_API_KEY` if set and non-empty, else `runpod.api_key` from the file, else undefined (not configured). */
export async function loadRunpodCredentials(opts: { env: NodeJS.ProcessEnv; credentialsPath: string }): Promise<ApiKeyCredentials | undefined> {
  const fromEnv = opts.env["RUNPOD_API_KEY"]?.trim();
  if (fromEnv) return { provider: "runpod", apiKey: new Secret(fromEnv), source: "RUNPOD_API_KEY" };
  const key = (await credentialsSection(opts.credentialsPath, "runpod", section, RUNPOD_FILE_EXAMPLE))?.api_key.trim();
  return key ? { provider: "runpod", apiKey: new Secret(key), source: opts.credentialsPath } : undefined;
}

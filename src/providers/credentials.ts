/**
 * Provider credentials, loaded from the environment or Kiln's credentials file
 * (`$KILN_HOME/credentials.json`, see kilnPaths), into a {@link Secret} that prints as `*****` in logs,
 * JSON and inspection — the value leaves only through `reveal()`, at the HTTP edge.
 *
 * The file must be private (mode 0600, like ~/.ssh keys): a group- or world-readable file is refused
 * rather than used, since a key that others can read is a key that others can bill.
 *
 * File shape (unknown providers' sections are kept for them; a malformed known section is an error):
 *   { "lambda": { "api_key": "secret_…" } }
 */
import { readFile, stat } from "node:fs/promises";
import { inspect } from "node:util";
import { z } from "zod";
import { type ProviderName, ProviderError } from "./provider.js";

/** A credential value that never prints itself. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return "*****";
  }
  toJSON(): string {
    return "*****";
  }
  [inspect.custom](): string {
    return "Secret(*****)";
  }
}

export interface ProviderCredentials {
  provider: ProviderName;
  apiKey: Secret;
  /** Where the key came from, for messages: "LAMBDA_API_KEY" or the file path. */
  source: string;
}

const fileSchema = z.looseObject({
  lambda: z.strictObject({ api_key: z.string().min(1) }).optional(),
});
export type CredentialsFile = z.infer<typeof fileSchema>;

/** Parse the credentials file; undefined when it does not exist. Refuses a file others can read. */
export async function readCredentialsFile(path: string, provider: ProviderName = "lambda"): Promise<CredentialsFile | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  if ((mode & 0o077) !== 0) {
    throw new ProviderError(provider, "auth", `refusing to read ${path}: it is readable by other users (mode ${(mode & 0o777).toString(8).padStart(4, "0")})`, {
      code: "kiln/credentials-permissions",
      suggestion: `run: chmod 600 ${path}`,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (e) {
    throw new ProviderError(provider, "auth", `${path} is not valid JSON`, { cause: e, code: "kiln/credentials-invalid", suggestion: `fix it, e.g. {"lambda": {"api_key": "…"}}` });
  }
  const r = fileSchema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ProviderError(provider, "auth", `${path}: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "invalid"}`, { code: "kiln/credentials-invalid", suggestion: `expected {"lambda": {"api_key": "…"}}` });
  }
  return r.data;
}

/**
 * Lambda's API key: `LAMBDA_API_KEY` if set and non-empty, else `lambda.api_key` from the file, else
 * undefined (Lambda is then simply not configured).
 */
export async function loadLambdaCredentials(opts: { env: NodeJS.ProcessEnv; credentialsPath: string }): Promise<ProviderCredentials | undefined> {
  const fromEnv = opts.env["LAMBDA_API_KEY"]?.trim();
  if (fromEnv) return { provider: "lambda", apiKey: new Secret(fromEnv), source: "LAMBDA_API_KEY" };
  const file = await readCredentialsFile(opts.credentialsPath, "lambda");
  const key = file?.lambda?.api_key.trim();
  return key ? { provider: "lambda", apiKey: new Secret(key), source: opts.credentialsPath } : undefined;
}

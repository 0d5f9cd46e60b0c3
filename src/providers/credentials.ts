/**
 * Provider credentials, loaded from the environment or Kiln's credentials file
 * (`$KILN_HOME/credentials.json`, see kilnPaths), into a {@link Secret} that prints as `*****` in logs,
 * JSON and inspection — the value leaves only through `reveal()`, at the HTTP edge.
 *
 * The file must be private (mode 0600, like ~/.ssh keys): a group- or world-readable file is refused
 * rather than used, since a key that others can read is a key that others can bill.
 *
 * File shape: one section per provider, each parsed by that provider's schema (its descriptor's
 * `credentials.fileExample` shows it); other providers' sections are left alone.
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

/** An API key and where it came from, for the providers whose credential is one key. */
export interface ApiKeyCredentials {
  provider: ProviderName;
  apiKey: Secret;
  /** Where the key came from, for messages: the env var or the file path. */
  source: string;
}

/** The file: one section per provider, each parsed by its provider's own schema ({@link credentialsSection}). */
const fileSchema = z.record(z.string(), z.unknown());
export type CredentialsFile = z.infer<typeof fileSchema>;

/** Parse the credentials file; undefined when it does not exist. Refuses a file others can read. */
export async function readCredentialsFile(path: string, provider: ProviderName): Promise<CredentialsFile | undefined> {
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
    throw new ProviderError(provider, "auth", `${path} is not valid JSON`, { cause: e, code: "kiln/credentials-invalid", suggestion: `fix it: a JSON object with one section per provider, e.g. {"${provider}": {…}}` });
  }
  const r = fileSchema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ProviderError(provider, "auth", `${path}: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "invalid"}`, { code: "kiln/credentials-invalid", suggestion: `a JSON object with one section per provider, e.g. {"${provider}": {…}}` });
  }
  return r.data;
}

/**
 * Provider `provider`'s section of the credentials file, parsed with its own schema; undefined when the
 * file or the section is absent. A malformed section is a ProviderError (kind auth) naming the field;
 * other providers' sections are left alone.
 */
export async function credentialsSection<T>(path: string, provider: ProviderName, schema: z.ZodType<T>, example: string): Promise<T | undefined> {
  const file = await readCredentialsFile(path, provider);
  if (file?.[provider] === undefined) return undefined;
  const r = schema.safeParse(file[provider]);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ProviderError(provider, "auth", `${path}: ${provider}${issue?.path.length ? `.${issue.path.join(".")}` : ""}: ${issue?.message ?? "invalid"}`, { code: "kiln/credentials-invalid", suggestion: `expected ${example}` });
  }
  return r.data;
}

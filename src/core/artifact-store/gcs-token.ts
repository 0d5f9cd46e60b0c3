/**
 * GCS credentials on this computer: the user's access token (Application Default Credentials as the GCP
 * provider loads them, src/providers/gcp/auth.ts, or the token in `access_token_env`). It never leaves this
 * computer: it reads the store for verify and fetch, and opens the machine's upload sessions
 * (./gcs-sessions.ts), which are all the machine gets.
 */
import { UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";

export interface GcsTokenCredentials {
  kind: "gcs-token";
  /** An OAuth 2.0 access token, sent as `Authorization: Bearer …`. */
  token: Secret;
  /** The token stops working at this time (ms since the epoch); unknown for a token given as is. */
  expiresAtMs?: number;
  /** The user's own token, as given (it stays on this computer). */
  scope: "as-given";
}

/** A token whose expiry is this close is refreshed first (ADC's tokens last an hour). */
const FRESH_FOR_MS = 55 * 60_000;

/** The user's own token: `access_token_env`'s, or ADC's (a fresh one when ADC can refresh). */
export async function gcsSourceToken(store: ArtifactStoreSpec, env: NodeJS.ProcessEnv): Promise<{ token: Secret; expiresAtMs?: number }> {
  if (store.access_token_env !== undefined) {
    const v = env[store.access_token_env]?.trim();
    if (!v) throw new UserError(`artifacts.store.access_token_env: the environment variable ${store.access_token_env} is not set`, { hint: `export ${store.access_token_env}="$(gcloud auth print-access-token)", or drop access_token_env to use Application Default Credentials` });
    return { token: new Secret(v) };
  }
  const { adcAuth } = await import("../../providers/gcp/auth.js");
  const keyFile = env["GOOGLE_APPLICATION_CREDENTIALS"]?.trim();
  try {
    const client = await adcAuth(keyFile ? { keyFile } : {}).getClient();
    client.eagerRefreshThresholdMillis = FRESH_FOR_MS;
    const got = await client.getAccessToken();
    if (!got.token) throw new Error("ADC returned no access token");
    const expiry = client.credentials.expiry_date;
    return { token: new Secret(got.token), ...(typeof expiry === "number" && { expiresAtMs: expiry }) };
  } catch (e) {
    throw new UserError(`artifacts.store: no Google credentials for ${store.url} (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
      hint: "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key, or name a token in artifacts.store.access_token_env",
    });
  }
}

/** This computer's token for verify and fetch: the user's own (it never leaves this computer). */
export async function gcsCredentialsForReading(store: ArtifactStoreSpec, env: NodeJS.ProcessEnv): Promise<GcsTokenCredentials> {
  const s = await gcsSourceToken(store, env);
  return { kind: "gcs-token", token: s.token, ...(s.expiresAtMs !== undefined && { expiresAtMs: s.expiresAtMs }), scope: "as-given" };
}

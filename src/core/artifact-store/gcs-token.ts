/**
 * GCS credentials for the durable store: the user's access token (Application Default Credentials as the
 * GCP provider loads them, src/providers/gcp/auth.ts, or the token in `access_token_env`), and for the
 * machine a **downscoped** token made from it with a Credential Access Boundary: Google's STS exchanges it
 * (RFC 8693 token exchange at https://sts.googleapis.com/v1/token) for a token that can only create and
 * read objects whose names start with `PREFIX/<job id>/` in the one bucket. The machine only gets that.
 *
 * Quirks that bite, from Google's docs (cloud.google.com/iam/docs/downscoping-short-lived-credentials):
 * - The downscoped token lives as long as the source token and no longer: at most 1 h for ADC's tokens.
 *   STS answers `expires_in` only when the source is a service account's token; otherwise the source's own
 *   expiry is the downscoped one's. Kiln renews it while a client is online (src/core/lifecycle/store-renewal.ts);
 *   a client gone for longer than what is left of it leaves the machine a token that no longer works at the
 *   cap, and `kiln plan` says so (src/core/planner/cap-guarantee.ts).
 * - The boundary can only narrow what the principal already holds on the bucket (objectCreator and
 *   objectViewer at least), and needs the bucket's uniform bucket-level access: ACLs are not bounded.
 * - objectCreator has no `storage.objects.delete`, and GCS needs it to overwrite an object: a second push
 *   of a file already there is refused, so the machine skips objects already stored with the same md5.
 * - Listing is a bucket-level call and so falls outside a per-object condition: the token cannot list.
 */
import { z } from "zod";
import { MIB, ResponseTooLarge, readBoundedJson, refusedBody } from "../../base/bounded-body.js";
import { KilnError, UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";
import type { GcsLocation } from "./location.js";

export interface GcsTokenCredentials {
  kind: "gcs-token";
  /** An OAuth 2.0 access token, sent as `Authorization: Bearer …`. */
  token: Secret;
  /** The token stops working at this time (ms since the epoch); unknown for a token given as is. */
  expiresAtMs?: number;
  /** `downscoped`: minted for this job's prefix only; `as-given`: the user's own token (this computer only). */
  scope: "downscoped" | "as-given";
}

/** Google's access tokens (ADC's, gcloud's) last an hour at most; a downscoped one no longer than its source. */
export const GOOGLE_TOKEN_MAX_S = 3600;

/** A token whose expiry is this close is refreshed first, so the downscoped one gets (nearly) a full hour. */
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

// CEL single-quoted string: a prefix segment may hold `'` (see PREFIX_SEGMENT in ../spec/artifact-store.ts).
const celString = (s: string): string => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** The Credential Access Boundary for one job: create and read objects under `PREFIX/<job id>/` in the bucket. */
export function jobAccessBoundary(l: GcsLocation): object {
  return {
    accessBoundary: {
      accessBoundaryRules: [
        {
          availableResource: `//storage.googleapis.com/projects/_/buckets/${l.bucket}`,
          availablePermissions: ["inRole:roles/storage.objectCreator", "inRole:roles/storage.objectViewer"],
          availabilityCondition: { title: "kiln-job-prefix", expression: `resource.name.startsWith(${celString(`projects/_/buckets/${l.bucket}/objects/${l.keyPrefix}/`)})` },
        },
      ],
    },
  };
}

const StsAnswer = z.object({ access_token: z.string().min(1), token_type: z.string().optional(), expires_in: z.number().int().positive().optional() });
const StsError = z.object({ error: z.string(), error_description: z.string().optional() });
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";

/** Exchange the user's token for one bounded to the job's prefix (POST form to the STS token endpoint). */
export async function downscopedToken(o: { location: GcsLocation; source: { token: Secret; expiresAtMs?: number }; signal?: AbortSignal; now?: number }): Promise<GcsTokenCredentials> {
  const body = new URLSearchParams({
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token_type: ACCESS_TOKEN,
    requested_token_type: ACCESS_TOKEN,
    subject_token: o.source.token.reveal(),
    // Google's own, outside RFC 8693: the boundary as URL-encoded JSON.
    options: JSON.stringify(jobAccessBoundary(o.location)),
  });
  const res = await fetch(o.location.stsEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
    signal: AbortSignal.any([...(o.signal ? [o.signal] : []), AbortSignal.timeout(60_000)]),
  });
  const { json } = await readStsAnswer(res, o.location.stsEndpoint);
  if (res.status >= 400 && res.status < 500) {
    const e = StsError.safeParse(json);
    const why = e.success ? `${e.data.error}${e.data.error_description ? `: ${e.data.error_description}` : ""}` : `HTTP ${res.status}`;
    throw new UserError(`artifacts.store: Google's STS refused to downscope the token for ${o.location.url} (${why})`, {
      hint: "the source token must be a valid Google access token (refresh it: `gcloud auth application-default login`); the bucket needs uniform bucket-level access",
    });
  }
  const ok = StsAnswer.safeParse(json);
  if (!res.ok || !ok.success) throw new KilnError("store-sts-unparsable", `the STS token exchange at ${o.location.stsEndpoint} answered HTTP ${res.status} without a usable token`);
  const now = o.now ?? Date.now();
  // No expires_in unless the source is a service account's token: the downscoped one expires with its source,
  // and a source of unknown age (access_token_env) at the latest an hour from now, Google's longest.
  const expiresAtMs = ok.data.expires_in !== undefined ? now + ok.data.expires_in * 1000 : (o.source.expiresAtMs ?? now + GOOGLE_TOKEN_MAX_S * 1000);
  return { kind: "gcs-token", token: new Secret(ok.data.access_token), expiresAtMs, scope: "downscoped" };
}

/** A token answer is a few hundred bytes; anything near this is not Google's STS (a proxy, an endless page). */
export const STS_MAX_RESPONSE_BYTES = MIB / 4;

async function readStsAnswer(res: Response, endpoint: string): Promise<{ json: unknown }> {
  try {
    return await readBoundedJson(res, STS_MAX_RESPONSE_BYTES);
  } catch (e) {
    if (!(e instanceof ResponseTooLarge)) throw e;
    throw new UserError(`artifacts.store: ${refusedBody(`the STS token exchange at ${endpoint}`, e)}`, {
      cause: e,
      hint: "that is not Google's STS answering: check artifacts.store's endpoint_url and any proxy in between (HTTPS_PROXY), then run the command again",
    });
  }
}

/**
 * The machine's token for this job: downscoped to its prefix, from the user's.
 *
 * @example
 *   const c = await gcsCredentialsForJob(spec.artifacts.store!, storeLocation(store, "j-42") as GcsLocation, process.env);
 *   // { kind: "gcs-token", scope: "downscoped", expiresAtMs: <≤ 1 h from now>, token: Secret }
 */
export async function gcsCredentialsForJob(store: ArtifactStoreSpec, location: GcsLocation, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<GcsTokenCredentials> {
  return downscopedToken({ location, source: await gcsSourceToken(store, env), ...(signal && { signal }) });
}

/** This computer's token for verify and fetch: the user's own (it never leaves this computer). */
export async function gcsCredentialsForReading(store: ArtifactStoreSpec, env: NodeJS.ProcessEnv): Promise<GcsTokenCredentials> {
  const s = await gcsSourceToken(store, env);
  return { kind: "gcs-token", token: s.token, ...(s.expiresAtMs !== undefined && { expiresAtMs: s.expiresAtMs }), scope: "as-given" };
}

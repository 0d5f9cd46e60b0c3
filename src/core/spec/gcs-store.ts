/**
 * `artifacts.store.url: gs://BUCKET/PREFIX`: Google Cloud Storage as the durable store, through its JSON
 * API (docs/job-spec.md). Kiln reads the user's Application Default Credentials (as the GCP provider does:
 * GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, or the metadata server), or the access token in the
 * variable `access_token_env` names, and ships the machine only two resumable-upload sessions opened with
 * them, one per object of the job's archive layout (src/core/artifact-store/gcs-sessions.ts). `endpoint_url`
 * points at an emulator: the JSON API is then served at that origin.
 *
 * The rules for the parts of the URL live here; ./artifact-store.ts calls them from its one URL parser.
 */
import type { z } from "zod";

export const isGcsUrl = (url: string): boolean => /^gs:\/\//i.test(url);

// GCS bucket names (cloud.google.com/storage/docs/buckets#naming): lowercase letters, digits, "-", "_"
// and "."; a letter or digit first and last; 3-63 characters, or up to 222 when dotted with each
// dot-separated part at most 63; not an IP address; not starting with "goog" nor containing "google" or
// a close misspelling.
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]*[a-z0-9]$/;

/** Why a GCS bucket name is refused, or undefined. */
export function gcsBucketProblem(bucket: string): string | undefined {
  const dotted = bucket.includes(".");
  const rule = "3-63 lowercase letters, digits, hyphens, underscores and dots, a letter or digit first and last";
  if (!GCS_BUCKET.test(bucket) || bucket.length < 3 || bucket.length > (dotted ? 222 : 63)) return `"${bucket}" is not a GCS bucket name (${rule})`;
  if (dotted && bucket.split(".").some((p) => p.length === 0 || p.length > 63)) return `"${bucket}" is not a GCS bucket name (each dot-separated part is 1-63 characters)`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(bucket)) return `"${bucket}" is not a GCS bucket name (an IP address is not allowed)`;
  if (/^goog/.test(bucket) || /g[o0][o0]g(le|l3)/.test(bucket)) return `"${bucket}" is not a GCS bucket name (names may not start with "goog" or contain "google")`;
  return undefined;
}

/** Why `gs://BUCKET/REST` is refused, or undefined. `prefixProblem` is the stores' shared prefix rule. */
export function gcsUrlProblem(bucket: string, rest: string, prefixProblem: (rest: string, example: string) => string | undefined): string | undefined {
  return gcsBucketProblem(bucket) ?? prefixProblem(rest, "gs://BUCKET/PREFIX");
}

/** The parts of `artifacts.store` these checks read. */
interface StoreFields {
  url: string;
  access_token_env?: string | undefined;
  role_arn?: string | undefined;
  session_token_env?: string | undefined;
  account_key_env?: string | undefined;
  sas_token_env?: string | undefined;
}

/** Other stores' credential fields on a gs:// store, or `access_token_env` on another store. */
export function gcsFieldProblems(v: StoreFields, ctx: z.RefinementCtx): void {
  if (!isGcsUrl(v.url)) {
    ctx.addIssue({ code: "custom", path: ["access_token_env"], message: "access_token_env is for Google Cloud Storage (gs://BUCKET/PREFIX)" });
    return;
  }
  for (const k of ["role_arn", "session_token_env", "account_key_env", "sas_token_env"] as const) {
    if (v[k] !== undefined) ctx.addIssue({ code: "custom", path: [k], message: `${k} is not for gs:// stores; a gs:// store uses Application Default Credentials, or the access token access_token_env names` });
  }
}

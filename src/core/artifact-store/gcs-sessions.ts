/**
 * The machine's grant for a GCS store: two **resumable-upload session URIs**, opened by this computer at
 * launch with the user's own token, one for `PREFIX/<job id>/outputs.tar` and one for
 * `PREFIX/<job id>/manifest.json` (the archive layout, ./location.ts). The machine gets the two URIs and no
 * token at all, so it can write those two objects and nothing else: not read, not list, not touch another
 * object or bucket.
 *
 * Why sessions and not a token (Google's docs, cloud.google.com/storage/docs/resumable-uploads): a session URI
 * is itself the credential for the upload it names (requests to it carry no Authorization), it is bound to
 * one object name in one bucket, and it lasts **a week** from when it was opened, however short-lived the
 * token that opened it. A token downscoped to the prefix (Credential Access Boundary) lives no longer than its
 * source, an hour for ADC's tokens, so a client gone for more than that left the machine unable to push at
 * the cap. A session lasts 7 days; Kiln opens new ones while a client is online (src/core/lifecycle/store-renewal.ts),
 * and `kiln plan` says what holds past a week offline (src/core/planner/cap-guarantee.ts).
 *
 * Quirks that bite:
 * - The object is written when the session's last byte arrives; what it overwrites is checked then, with the
 *   rights of the principal that opened the session: storage.objects.create, and storage.objects.delete to
 *   replace an earlier attempt's copy (roles/storage.objectAdmin on the bucket has both).
 * - A finished session answers its object's metadata on a status query: the machine compares the md5 GCS
 *   computed with its own (workload/kiln_sae/store_push.py `_GcsSession`), which is how it verifies without
 *   the right to read.
 * - The URI is a secret (anyone holding it can write that object until the week is out): it lives in the
 *   watchdog's 0600 config and never in a log.
 */
import { KilnError, UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";
import { gcsErrorLine } from "./gcs-reader.js";
import { gcsSourceToken } from "./gcs-token.js";
import { type GcsLocation, archiveKey, manifestKey } from "./location.js";

export interface GcsSessionCredentials {
  kind: "gcs-sessions";
  /** The session URI for `outputs.tar`. */
  archive: Secret;
  /** The session URI for `manifest.json`. */
  manifest: Secret;
  /** When the sooner session stops working (ms since the epoch): a week after opening, less a margin. */
  expiresAtMs: number;
}

/** Google: a resumable session lasts one week from when it was opened. */
export const SESSION_LIFETIME_MS = 7 * 24 * 3600_000;
/** Counted short by an hour: clocks differ, and the push itself takes time. */
const MARGIN_MS = 3600_000;

/** Open one session for `key` (objects.insert, uploadType=resumable) and return its URI. */
async function openSession(l: GcsLocation, key: string, token: Secret, signal?: AbortSignal): Promise<Secret> {
  const url = `${l.endpoint}/upload/storage/v1/b/${encodeURIComponent(l.bucket)}/o?uploadType=resumable&name=${encodeURIComponent(key)}`;
  const res = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token.reveal()}`, "x-upload-content-type": "application/x-tar", "content-length": "0" },
    signal: AbortSignal.any([...(signal ? [signal] : []), AbortSignal.timeout(60_000)]),
  });
  const location = res.headers.get("location");
  if (res.status === 401 || res.status === 403) {
    throw new UserError(`artifacts.store: GCS refused to open an upload to ${l.url} (${await gcsErrorLine(res)})`, {
      hint: "the Google credentials need storage.objects.create and storage.objects.delete on the bucket (roles/storage.objectAdmin); refresh them with `gcloud auth application-default login`",
    });
  }
  await res.body?.cancel();
  if (!res.ok || !location || !/^https?:\/\//.test(location)) throw new KilnError("store-session-unparsable", `opening an upload to ${l.url} answered HTTP ${res.status} without a session URI`);
  return new Secret(location);
}

/**
 * The machine's grant for this job: a session for each of its two objects, opened with the user's token.
 *
 * @example
 *   const c = await gcsCredentialsForJob(store, storeLocation(store, "j-42") as GcsLocation, process.env);
 *   // { kind: "gcs-sessions", archive: Secret, manifest: Secret, expiresAtMs: <~7 days from now> }
 */
export async function gcsCredentialsForJob(store: ArtifactStoreSpec, location: GcsLocation, env: NodeJS.ProcessEnv, signal?: AbortSignal, now = Date.now()): Promise<GcsSessionCredentials> {
  const source = await gcsSourceToken(store, env);
  const archive = await openSession(location, archiveKey(location), source.token, signal);
  const manifest = await openSession(location, manifestKey(location), source.token, signal);
  return { kind: "gcs-sessions", archive, manifest, expiresAtMs: now + SESSION_LIFETIME_MS - MARGIN_MS };
}

/**
 * The store config the machine-side push reads (workload/kiln_sae/store_push.py `Store.from_json`): the
 * job's location and the credentials, as one JSON file the watchdog keeps 0600 in its private directory.
 * It holds secrets, so it is only ever written through {@link storePushConfigJson} into that directory.
 */
import type { StoreCredentials } from "./credentials.js";
import { ARCHIVE_NAME, type StoreLocation } from "./location.js";

export interface StorePushConfig {
  location: StoreLocation;
  credentials: StoreCredentials;
}

/** The file's text. Reveals the secrets: call it only where the text goes straight into a 0600 file. */
export function storePushConfigJson(c: StorePushConfig): string {
  const l = c.location;
  const k = c.credentials;
  if (l.kind === "azure-blob") {
    if (k.kind === "azure-blob-sas") {
      // The archive layout: a SAS for each of the two blobs, by name relative to the prefix.
      return `${JSON.stringify({ kind: "azure-blob", container_url: l.containerUrl, key_prefix: l.keyPrefix, blob_sas: { [ARCHIVE_NAME]: k.archive.reveal(), "manifest.json": k.manifest.reveal() } })}\n`;
    }
    if (k.kind !== "azure-sas") throw new Error("storePushConfigJson: an Azure Blob store needs SAS credentials");
    return `${JSON.stringify({ kind: "azure-blob", container_url: l.containerUrl, key_prefix: l.keyPrefix, sas: k.sas.reveal() })}\n`;
  }
  if (l.kind === "lambda-fs") {
    // store_push.py writes under ROOT/KEY_PREFIX with rename-into-place; the mount point is Lambda's fixed one.
    return `${JSON.stringify({ kind: "dir", root: l.mountPoint, key_prefix: l.keyPrefix })}\n`;
  }
  if (l.kind === "gcs") {
    if (k.kind !== "gcs-sessions") throw new Error("storePushConfigJson: the machine's GCS grant is a pair of upload sessions");
    return `${JSON.stringify({ kind: "gcs", endpoint: l.endpoint, bucket: l.bucket, key_prefix: l.keyPrefix, sessions: { [ARCHIVE_NAME]: k.archive.reveal(), "manifest.json": k.manifest.reveal() } })}\n`;
  }
  if (k.kind !== "s3") throw new Error("storePushConfigJson: an S3 store needs S3 credentials");
  return `${JSON.stringify({
    kind: "s3",
    endpoint: l.endpoint,
    region: l.region,
    bucket: l.bucket,
    key_prefix: l.keyPrefix,
    addressing: l.addressing,
    access_key_id: k.accessKeyId,
    secret_access_key: k.secretAccessKey.reveal(),
    ...(k.sessionToken && { session_token: k.sessionToken.reveal() }),
  })}\n`;
}

/**
 * The store config the machine-side push reads (workload/kiln_sae/store_push.py `Store.from_json`): the
 * job's location and the credentials, as one JSON file the watchdog keeps 0600 in its private directory.
 * It holds secrets, so it is only ever written through {@link storePushConfigJson} into that directory.
 */
import type { StoreCredentials } from "./credentials.js";
import type { StoreLocation } from "./location.js";

export interface StorePushConfig {
  location: StoreLocation;
  credentials: StoreCredentials;
}

/** The file's text. Reveals the secrets: call it only where the text goes straight into a 0600 file. */
export function storePushConfigJson(c: StorePushConfig): string {
  const l = c.location;
  return `${JSON.stringify({
    kind: "s3",
    endpoint: l.endpoint,
    region: l.region,
    bucket: l.bucket,
    key_prefix: l.keyPrefix,
    addressing: l.addressing,
    access_key_id: c.credentials.accessKeyId,
    secret_access_key: c.credentials.secretAccessKey.reveal(),
    ...(c.credentials.sessionToken && { session_token: c.credentials.sessionToken.reveal() }),
  })}\n`;
}

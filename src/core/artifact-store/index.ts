/**
 * The durable artifact store (docs/lifecycle.md §7): where the on-machine watchdog pushes a job's outputs
 * at the cap, and where a client finds them when the machine is gone: an S3-compatible bucket, an Azure
 * Blob container, a GCS bucket or a Lambda file system. Light to import: the AWS SDK is loaded only by {@link verifyDurableCopy},
 * {@link fetchFromStore} and STS minting, on use.
 */
import type { DurableCopyCheck, StoreAccess } from "./durable-copy.js";
import type { Manifest } from "../../remote/sync/manifest.js";

export { type BlobGrantCredentials, type BlobSasCredentials, type GcsSessionCredentials, type GcsTokenCredentials, type S3Credentials, type StoreCredentials, MAX_SESSION_S, jobSessionPolicy, storeCredentialsForJob, storeCredentialsForReading, storeCredentialsFromEnv } from "./credentials.js";
export { type BlobLocation, type GcsLocation, type S3Location, type StoreLocation, type VolumeLocation, archiveKey, manifestKey, outputKey, storeLocation } from "./location.js";
export { type StorePushConfig, storePushConfigJson } from "./push-config.js";
export type { DurableCopyCheck, StoreAccess } from "./durable-copy.js";

/** See ./s3.ts: is the job's copy in the store complete and intact (every object re-hashed)? */
export async function verifyDurableCopy(a: StoreAccess & { expected?: Manifest }): Promise<DurableCopyCheck> {
  return (await import("./durable-copy.js")).verifyDurableCopy(a);
}

/** See ./s3.ts: download the job's outputs from the store into `localDir`, each file sha256-checked. */
export async function fetchFromStore(a: StoreAccess & { localDir: string }): Promise<{ manifest: Manifest; bytes: number }> {
  return (await import("./durable-copy.js")).fetchFromStore(a);
}

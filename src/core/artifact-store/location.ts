/**
 * Where a job's outputs live in the durable store, and how to reach it. One layout for the machine-side
 * push (workload/kiln_sae/store_push.py) and the client-side verify/fetch (./durable-copy.ts):
 *
 *   PREFIX/<job id>/outputs/<path>   every output file, byte for byte
 *   PREFIX/<job id>/manifest.json    {version: 1, files: [{path, size, sha256}]}, written last
 *
 * or, the **archive layout**, where the machine's grant names the objects it may write (a blob SAS per blob on
 * Azure, an upload session per object on GCS), and so the names must be fixed at launch:
 *
 *   PREFIX/<job id>/outputs.tar      every output file in one tar (PAX), `tar xf` reads it without Kiln
 *   PREFIX/<job id>/manifest.json    {version: 2, archive: {path, size, sha256}, files: [...]}, written last
 *
 * The job id (not the job's name) keys it, so two runs of one spec never overwrite each other. The files
 * layout is S3's, a Lambda file system's and an Azure SAS the user gives; the archive layout is GCS's and an
 * Azure store Kiln mints for. The reader follows the manifest's version.
 */
import { UserError } from "../../base/errors.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";
import { storeKindOf, storeUrlProblem } from "../spec/artifact-store.js";
import { volumeMountPoint } from "../spec/lambda-fs.js";

export interface S3Location {
  kind: "s3";
  bucket: string;
  /** The spec's prefix plus the job id, no leading or trailing slash. */
  keyPrefix: string;
  /** The S3 API origin requests go to. */
  endpoint: string;
  region: string;
  /** Path-style (`endpoint/bucket/key`) for custom endpoints and dotted buckets; virtual-hosted on AWS otherwise. */
  addressing: "path" | "virtual";
  /** For messages: `s3://bucket/prefix/job`. */
  url: string;
}

export interface BlobLocation {
  kind: "azure-blob";
  account: string;
  container: string;
  keyPrefix: string;
  /** The container's URL: `https://ACCOUNT.blob.core.windows.net/CONTAINER`, or `ENDPOINT/ACCOUNT/CONTAINER` (Azurite's path style). */
  containerUrl: string;
  /** For messages: `az://account/container/prefix/job`. */
  url: string;
}

/** A Lambda file system: the same layout under the mount point (`/lambda/nfs/NAME/PREFIX/<job id>/…`). */
export interface VolumeLocation {
  kind: "lambda-fs";
  /** The file system's name at Lambda. */
  volume: string;
  /** Where the machine sees it (Lambda's fixed mount point). */
  mountPoint: string;
  keyPrefix: string;
  /** For messages: `lambda-fs://name/prefix/job`. */
  url: string;
}

/** A GCS bucket through the JSON API (./gcs-sessions.ts, ./gcs-reader.ts). */
export interface GcsLocation {
  kind: "gcs";
  bucket: string;
  keyPrefix: string;
  /** The JSON API origin: https://storage.googleapis.com, or the spec's `endpoint_url` (an emulator). */
  endpoint: string;
  /** For messages: `gs://bucket/prefix/job`. */
  url: string;
}

export type StoreLocation = S3Location | BlobLocation | VolumeLocation | GcsLocation;

// Job ids are Kiln's own (`j-…`); refuse anything that could step out of the prefix all the same.
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * The job's place in the store from the spec's `artifacts.store`.
 *
 * @example
 *   storeLocation({ url: "s3://bkt/runs", region: "us-east-1", … }, "j-42").keyPrefix; // "runs/j-42"
 *   storeLocation({ url: "az://acct/kiln/runs", … }, "j-42").containerUrl; // "https://acct.blob.core.windows.net/kiln"
 */
export function storeLocation(store: ArtifactStoreSpec, jobId: string): StoreLocation {
  const problem = storeUrlProblem(store.url);
  if (problem) throw new UserError(`artifacts.store.url: ${problem}`, { exitCode: 2 });
  if (!JOB_ID.test(jobId) || jobId.includes("..")) throw new Error(`not a job id: ${JSON.stringify(jobId)}`);
  const rest = store.url.slice(store.url.indexOf("://") + 3);
  const [first = "", ...path] = rest.split("/");
  if (storeKindOf(store.url) === "lambda-fs") {
    const keyPrefix = `${path.filter((s) => s !== "").join("/")}/${jobId}`;
    return { kind: "lambda-fs", volume: first, mountPoint: volumeMountPoint(first), keyPrefix, url: `lambda-fs://${first}/${keyPrefix}` };
  }
  if (storeKindOf(store.url) === "gcs") {
    const keyPrefix = `${path.filter((s) => s !== "").join("/")}/${jobId}`;
    const endpoint = (store.endpoint_url ?? "https://storage.googleapis.com").replace(/\/$/, "");
    return { kind: "gcs", bucket: first, keyPrefix, endpoint, url: `gs://${first}/${keyPrefix}` };
  }
  if (storeKindOf(store.url) === "azure-blob") {
    const [container = "", ...prefixParts] = path;
    const keyPrefix = `${prefixParts.filter((s) => s !== "").join("/")}/${jobId}`;
    // Azurite (and sovereign clouds' custom domains) take the account as the path's first segment.
    const containerUrl = store.endpoint_url !== undefined ? `${store.endpoint_url.replace(/\/$/, "")}/${first}/${container}` : `https://${first}.blob.core.windows.net/${container}`;
    return { kind: "azure-blob", account: first, container, keyPrefix, containerUrl, url: `az://${first}/${container}/${keyPrefix}` };
  }
  const bucket = first;
  const keyPrefix = `${path.filter((s) => s !== "").join("/")}/${jobId}`;
  // Virtual-hosted names put the bucket in the TLS host name: a dotted bucket would not match AWS's certificate.
  const addressing = store.endpoint_url !== undefined || bucket.includes(".") ? "path" : "virtual";
  const endpoint = (store.endpoint_url ?? `https://s3.${store.region}.amazonaws.com`).replace(/\/$/, "");
  return { kind: "s3", bucket, keyPrefix, endpoint, region: store.region, addressing, url: `s3://${bucket}/${keyPrefix}` };
}

export const manifestKey = (l: StoreLocation): string => `${l.keyPrefix}/manifest.json`;
export const outputKey = (l: StoreLocation, path: string): string => `${l.keyPrefix}/outputs/${path}`;
/** The archive layout's one object of outputs (workload/kiln_sae/store_push.py ARCHIVE_KEY). */
export const ARCHIVE_NAME = "outputs.tar";
export const archiveKey = (l: StoreLocation): string => `${l.keyPrefix}/${ARCHIVE_NAME}`;

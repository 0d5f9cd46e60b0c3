/**
 * The store's credentials: read from the environment variables the spec names, and, when the spec gives
 * a `role_arn`, exchanged for temporary credentials that can touch only this job's prefix (STS
 * AssumeRole with a session policy). The machine only ever gets the result, written 0600 into the
 * watchdog's private directory (./push-config.ts), never on argv.
 *
 * What holds where: on AWS the session's rights are the role's policy ∩ the session policy, so the
 * machine can write and read PREFIX/<job id>/* and nothing else, for at most the session's duration
 * (≤ 12 h, the role's MaxSessionDuration). moto enforces the role's own policy but not the session
 * policy (scripts/moto-s3-server.py). Without `role_arn` the machine holds the key as given: scope it to
 * the prefix yourself (an IAM policy, an R2 token for one bucket, a MinIO user policy); `kiln plan` says so.
 *
 * Azure Blob: with `account_key_env`, Kiln mints a service SAS for each of the job's two blobs in the archive
 * layout (./location.ts: `PREFIX/<job id>/outputs.tar` and `PREFIX/<job id>/manifest.json`; sr=b: read,
 * create, write; ./blob-sas.ts), valid until an hour past the cap (at most 7 days, renewed while a client is
 * online), and the machine only gets those two. It can write and read back its own two blobs and nothing
 * else: no other blob, no list, no delete. (A prefix SAS exists only as a directory SAS, sr=d, on accounts
 * with a hierarchical namespace; naming the two objects works on every account.) With `sas_token_env` the
 * user's SAS is shipped as given, with the files layout (it reaches what it was made for).
 *
 * GCS: two resumable-upload session URIs, one per object of the archive layout, opened with the user's token
 * (./gcs-sessions.ts): no token on the machine, a week of life; reading on this computer uses the user's own token.
 */
import { UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";
import type { GcsSessionCredentials } from "./gcs-sessions.js";
import type { GcsTokenCredentials } from "./gcs-token.js";
import { type BlobLocation, type S3Location, type StoreLocation, archiveKey, manifestKey } from "./location.js";

export type { GcsSessionCredentials } from "./gcs-sessions.js";
export type { GcsTokenCredentials } from "./gcs-token.js";
export type StoreCredentials = S3Credentials | BlobSasCredentials | BlobGrantCredentials | VolumeMountCredentials | GcsTokenCredentials | GcsSessionCredentials;

/** A provider volume (Lambda file system): attached to the machine at launch, so the mount is the access and nothing secret is shipped. */
export interface VolumeMountCredentials {
  kind: "volume-mount";
  /** Never expires: there is nothing to renew (./store-renewal.ts reads this). */
  expiresAtMs?: undefined;
}

export interface S3Credentials {
  kind: "s3";
  accessKeyId: string;
  secretAccessKey: Secret;
  sessionToken?: Secret;
  /** Temporary credentials stop working at this time (ms since the epoch). */
  expiresAtMs?: number;
  /** `session-policy`: minted for this job's prefix only; `as-given`: the user's key from the environment. */
  scope: "session-policy" | "as-given";
}

export interface BlobSasCredentials {
  kind: "azure-sas";
  /** The SAS query string, without a leading `?`. */
  sas: Secret;
  expiresAtMs?: number;
  /** `container-sas`: minted by Kiln for the container (this computer's read-only one); `as-given`: the user's SAS from the environment. */
  scope: "container-sas" | "as-given";
}

/** The machine's grant on an Azure store Kiln mints for: a blob SAS for each object of the archive layout. */
export interface BlobGrantCredentials {
  kind: "azure-blob-sas";
  /** SAS query strings (no leading `?`) for `outputs.tar` and `manifest.json`. */
  archive: Secret;
  manifest: Secret;
  expiresAtMs: number;
}

const readEnv = (env: NodeJS.ProcessEnv, name: string, field: string): string => {
  const v = env[name]?.trim();
  if (!v) {
    throw new UserError(`artifacts.store.${field}: the environment variable ${name} is not set`, {
      hint: `export ${name}=… (the store's credential), or name another variable in artifacts.store.${field}`,
    });
  }
  return v;
};

/** AWS's bounds on AssumeRole's DurationSeconds (the upper one also needs the role's MaxSessionDuration). */
export const MIN_SESSION_S = 900;
export const MAX_SESSION_S = 43_200;

/** The user's S3 key from the variables the spec names; a UserError naming the variable when one is unset. */
export function storeCredentialsFromEnv(store: ArtifactStoreSpec, env: NodeJS.ProcessEnv): S3Credentials {
  const read = (name: string, field: string) => readEnv(env, name, field);
  const token = store.session_token_env === undefined ? undefined : read(store.session_token_env, "session_token_env");
  return {
    kind: "s3",
    accessKeyId: read(store.access_key_id_env, "access_key_id_env"),
    secretAccessKey: new Secret(read(store.secret_access_key_env, "secret_access_key_env")),
    ...(token !== undefined && { sessionToken: new Secret(token) }),
    scope: "as-given",
  };
}

/** S3 resource ARNs: S3-compatible stores (MinIO, moto) use the same partition in policies. */
const S3_ARN = "arn:aws:s3:::";

/** The session policy for one job: write (also in parts, and abort its own failed multipart upload) and read back its own objects; no list, no delete. */
export function jobSessionPolicy(l: S3Location): string {
  // The wildcard is joined on separately: a slash-star inside one literal reads as a comment opener to
  // test/provider-registry.test.ts's comment stripper.
  const objects = `${S3_ARN}${l.bucket}/${l.keyPrefix}/` + "*";
  return JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], Resource: objects }] });
}

/**
 * The credentials the machine gets for this job: with `role_arn`, temporary ones limited to the job's
 * prefix and valid for `validForS` (clamped to 15 min..12 h, AWS's bounds; renew them while a client is online
 * when the cap is further away); without it, the user's key as given. Azure: a blob SAS per object for
 * `validForS` (15 min..7 days); GCS: a week's upload sessions.
 */
export async function storeCredentialsForJob(o: { store: ArtifactStoreSpec; location: StoreLocation; env: NodeJS.ProcessEnv; validForS: number; sessionName: string; signal?: AbortSignal }): Promise<StoreCredentials> {
  if (o.location.kind === "azure-blob") return o.store.sas_token_env !== undefined ? blobSasCredentials(o.store, o.location, o.env, o.validForS, "rcw") : blobGrants(o.store, o.location, o.env, o.validForS);
  if (o.location.kind === "lambda-fs") return { kind: "volume-mount" };
  if (o.location.kind === "gcs") return (await import("./gcs-sessions.js")).gcsCredentialsForJob(o.store, o.location, o.env, o.signal);
  const base = storeCredentialsFromEnv(o.store, o.env);
  if (o.store.role_arn === undefined) return base;
  const { assumeJobRole } = await import("./sts.js");
  return assumeJobRole({ ...o, location: o.location, roleArn: o.store.role_arn, base });
}

/**
 * Credentials for this computer to read the job's copy (verify, fetch): the S3 key as the spec names it, or
 * for Azure the user's SAS, or a read-only SAS minted for 15 minutes from the account key.
 */
export async function storeCredentialsForReading(store: ArtifactStoreSpec, location: StoreLocation, env: NodeJS.ProcessEnv): Promise<StoreCredentials> {
  if (location.kind === "lambda-fs") return { kind: "volume-mount" };
  if (location.kind === "gcs") return (await import("./gcs-token.js")).gcsCredentialsForReading(store, env);
  return location.kind === "azure-blob" ? blobSasCredentials(store, location, env, MIN_SESSION_S, "r") : storeCredentialsFromEnv(store, env);
}

/** The Azure grants' longest life: like GCS's sessions, a week; a client online renews them before that. */
export const MAX_GRANT_S = 7 * 24 * 3600;

/** A blob SAS (read, create, write) for each of the job's two objects, from the account key. */
async function blobGrants(store: ArtifactStoreSpec, location: BlobLocation, env: NodeJS.ProcessEnv, validForS: number): Promise<BlobGrantCredentials> {
  const accountKey = readEnv(env, store.account_key_env ?? "AZURE_STORAGE_KEY", "account_key_env");
  const { blobSas } = await import("./blob-sas.js");
  const expiresAtMs = Date.now() + Math.min(MAX_GRANT_S, Math.max(MIN_SESSION_S, Math.ceil(validForS))) * 1000;
  const mint = (blob: string) => new Secret(blobSas({ account: location.account, container: location.container, blob, accountKey, permissions: "rcw", expiresAtMs, httpsOnly: location.containerUrl.startsWith("https:") }));
  return { kind: "azure-blob-sas", archive: mint(archiveKey(location)), manifest: mint(manifestKey(location)), expiresAtMs };
}

/** AWS-style bounds keep the SAS as short-lived as an STS session would be: 15 min to 12 h. */
async function blobSasCredentials(store: ArtifactStoreSpec, location: BlobLocation, env: NodeJS.ProcessEnv, validForS: number, permissions: "rcw" | "r"): Promise<BlobSasCredentials> {
  if (store.sas_token_env !== undefined) return { kind: "azure-sas", sas: new Secret(readEnv(env, store.sas_token_env, "sas_token_env").replace(/^\?/, "")), scope: "as-given" };
  const key = readEnv(env, store.account_key_env ?? "AZURE_STORAGE_KEY", "account_key_env");
  const { containerSas } = await import("./blob-sas.js");
  const expiresAtMs = Date.now() + Math.min(MAX_SESSION_S, Math.max(MIN_SESSION_S, Math.ceil(validForS))) * 1000;
  const sas = containerSas({ account: location.account, container: location.container, accountKey: key, permissions, expiresAtMs, httpsOnly: location.containerUrl.startsWith("https:") });
  return { kind: "azure-sas", sas: new Secret(sas), expiresAtMs, scope: "container-sas" };
}

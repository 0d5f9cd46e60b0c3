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
 * Azure Blob: with `account_key_env`, Kiln mints a service SAS for the job's container (read, create, write;
 * no list, no delete) valid until an hour past the cap (./blob-sas.ts), and the machine only gets the SAS.
 * It reaches the whole container, not PREFIX/<job id>/: with it the machine can read any blob of the
 * container whose name it knows, and create or overwrite any blob there (other jobs' outputs included), but
 * not list, delete, or touch another container or the account. Why no narrower: a service SAS is scoped to
 * a container (sr=c), one named blob (sr=b: the outputs' names are not known at launch), or a directory
 * (sr=d with sdd), and directories exist only on accounts with a hierarchical namespace (Data Lake Storage
 * Gen2), which Kiln neither detects nor mints for (Azurite, the emulator that checks our signatures, has no
 * hierarchical namespace). Stored access policies and user delegation SASes have the same scopes. So: give
 * Kiln a container of its own; `kiln plan` says this (src/core/planner/cap-guarantee.ts). With
 * `sas_token_env` the user's SAS is shipped as given (a directory SAS made by the user works).
 *
 * GCS: an access token downscoped to the job's prefix by a Credential Access Boundary (./gcs-token.ts),
 * valid no longer than its source token (≤ 1 h); reading on this computer uses the user's own token.
 */
import { UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";
import type { GcsTokenCredentials } from "./gcs-token.js";
import type { BlobLocation, S3Location, StoreLocation } from "./location.js";

export type { GcsTokenCredentials } from "./gcs-token.js";
export type StoreCredentials = S3Credentials | BlobSasCredentials | VolumeMountCredentials | GcsTokenCredentials;

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
  /** `container-sas`: minted by Kiln for the job's container; `as-given`: the user's SAS from the environment. */
  scope: "container-sas" | "as-given";
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
 * prefix and valid for `validForS` (clamped to 15 min..12 h; renew them while a client is online when
 * the cap is further away); without it, the user's key as given.
 */
export async function storeCredentialsForJob(o: { store: ArtifactStoreSpec; location: StoreLocation; env: NodeJS.ProcessEnv; validForS: number; sessionName: string; signal?: AbortSignal }): Promise<StoreCredentials> {
  if (o.location.kind === "azure-blob") return blobSasCredentials(o.store, o.location, o.env, o.validForS, "rcw");
  if (o.location.kind === "lambda-fs") return { kind: "volume-mount" };
  if (o.location.kind === "gcs") return (await import("./gcs-token.js")).gcsCredentialsForJob(o.store, o.location, o.env, o.signal);
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

/** AWS-style bounds keep the SAS as short-lived as an STS session would be: 15 min to 12 h. */
async function blobSasCredentials(store: ArtifactStoreSpec, location: BlobLocation, env: NodeJS.ProcessEnv, validForS: number, permissions: "rcw" | "r"): Promise<BlobSasCredentials> {
  if (store.sas_token_env !== undefined) return { kind: "azure-sas", sas: new Secret(readEnv(env, store.sas_token_env, "sas_token_env").replace(/^\?/, "")), scope: "as-given" };
  const key = readEnv(env, store.account_key_env ?? "AZURE_STORAGE_KEY", "account_key_env");
  const { containerSas } = await import("./blob-sas.js");
  const expiresAtMs = Date.now() + Math.min(MAX_SESSION_S, Math.max(MIN_SESSION_S, Math.ceil(validForS))) * 1000;
  const sas = containerSas({ account: location.account, container: location.container, accountKey: key, permissions, expiresAtMs, httpsOnly: location.containerUrl.startsWith("https:") });
  return { kind: "azure-sas", sas: new Secret(sas), expiresAtMs, scope: "container-sas" };
}

/**
 * `artifacts.store`: the durable artifact store the on-machine watchdog pushes the outputs to when the
 * budget cap is reached with no client answering (docs/lifecycle.md §7). The spec holds the store's
 * address and the NAMES of the environment variables with its credentials, never the secrets: a spec is
 * committed and shipped to the machine, a key in it would leak with it.
 *
 * URL shapes: `s3://BUCKET/PREFIX` (AWS S3, Cloudflare R2, MinIO, GCS's S3-compatible XML API: set
 * `endpoint_url`) and `az://ACCOUNT/CONTAINER/PREFIX` (Azure Blob Storage; `endpoint_url` for Azurite or a
 * sovereign cloud). `gs://BUCKET/PREFIX` is Google Cloud Storage's JSON API (./gcs-store.ts): credentials from
 * Application Default Credentials (or `access_token_env`), which stay on this computer: the machine gets two
 * upload sessions opened with them; `endpoint_url` for an emulator.
 *
 * `lambda-fs://FILESYSTEM/PREFIX` is a Lambda Cloud file system (./lambda-fs.ts): the provider's persistent
 * volume, attached at launch, so it is a store only for Lambda machines and needs no credential.
 *
 * Azure credentials: `account_key_env` names the variable with the storage account key, from which Kiln
 * mints a SAS for each of the job's two blobs (outputs.tar and manifest.json: read, create, write; no other
 * blob, no list, no delete) and ships only those; or `sas_token_env` names a SAS the user made, shipped as given.
 */
import { z } from "zod";
import { gcsFieldProblems, gcsUrlProblem, isGcsUrl } from "./gcs-store.js";
import { isVolumeStoreUrl, volumeStoreFieldProblems, volumeStoreUrlProblem } from "./lambda-fs.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Azure: storage accounts are 3-24 lowercase letters and digits; containers 3-63 lowercase letters, digits and
// single hyphens, starting and ending alphanumeric.
const BLOB_ACCOUNT = /^[a-z0-9]{3,24}$/;
const BLOB_CONTAINER = /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/;
// S3 bucket names: 3-63 of lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
// Key prefixes Kiln writes under: plain segments, so a key never climbs out of its prefix or needs escaping in messages.
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()=+-]+$/;

const envNameOf = (what: string) =>
  z.string().superRefine((v, ctx) => {
    // A pasted key is the mistake this field exists to prevent: say so rather than "not a name".
    if (!ENV_NAME.test(v)) {
      ctx.addIssue({ code: "custom", message: `expected the NAME of an environment variable holding the ${what} (e.g. AWS_ACCESS_KEY_ID), never the value itself` });
    }
  });

/** Which store a URL names: `s3`, `azure-blob` or `lambda-fs` (refused URLs too; {@link storeUrlProblem} says why). */
export const storeKindOf = (url: string): "s3" | "azure-blob" | "lambda-fs" | "gcs" => (/^az:\/\//i.test(url) ? "azure-blob" : isVolumeStoreUrl(url) ? "lambda-fs" : isGcsUrl(url) ? "gcs" : "s3");

function prefixProblem(rest: string, example: string): string | undefined {
  const segments = rest.split("/").filter((s) => s !== "");
  const bad = segments.find((s) => s === "." || s === ".." || !PREFIX_SEGMENT.test(s));
  if (bad !== undefined) return `the prefix segment "${bad}" is not allowed (letters, digits and !_.*'()=+- only; no "." or "..")`;
  if (segments.length === 0) return `expected a prefix (${example}): the credentials are scoped to it, never to a whole store`;
  return undefined;
}

/** Why a store URL is refused, or undefined when it is a supported `s3://` or `az://` URL. */
export function storeUrlProblem(url: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/i.exec(url);
  if (!m) return 'expected a URL like "s3://BUCKET/PREFIX" or "az://ACCOUNT/CONTAINER/PREFIX"';
  const scheme = m[1]!.toLowerCase();
  if (scheme === "gs") return gcsUrlProblem(m[2]!, m[3] ?? "", prefixProblem);
  if (scheme === "abfs" || (scheme === "https" && /\.blob\.core\.windows\.net$/i.test(m[2]!))) {
    return "write Azure Blob Storage as az://ACCOUNT/CONTAINER/PREFIX";
  }
  if (scheme === "lambda-fs") return volumeStoreUrlProblem(m[2]!, m[3] ?? "", prefixProblem);
  if (scheme === "az") {
    const account = m[2]!;
    if (!BLOB_ACCOUNT.test(account)) return `"${account}" is not an Azure storage account name (3-24 lowercase letters and digits)`;
    const [, container = "", ...rest] = (m[3] ?? "").split("/");
    if (!BLOB_CONTAINER.test(container)) return `"${container}" is not an Azure container name (3-63 lowercase letters, digits and single hyphens)`;
    return prefixProblem(rest.join("/"), "az://ACCOUNT/CONTAINER/PREFIX");
  }
  if (scheme !== "s3") return `unknown store scheme "${scheme}://"; expected s3://BUCKET/PREFIX (S3, R2, MinIO), gs://BUCKET/PREFIX (Google Cloud Storage) or az://ACCOUNT/CONTAINER/PREFIX (Azure Blob)`;
  const bucket = m[2]!;
  if (!S3_BUCKET.test(bucket) || bucket.includes("..")) return `"${bucket}" is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)`;
  return prefixProblem(m[3] ?? "", "s3://BUCKET/PREFIX");
}

export const artifactStoreSchema = z
  .strictObject({
    url: z
      .string({ error: 'expected a URL like "s3://BUCKET/PREFIX"' })
      .superRefine((v, ctx) => {
        const problem = storeUrlProblem(v);
        if (problem) ctx.addIssue({ code: "custom", message: problem, params: { showValue: true } });
      })
      .describe("s3://BUCKET/PREFIX (S3, R2, MinIO), gs://BUCKET/PREFIX (Google Cloud Storage), az://ACCOUNT/CONTAINER/PREFIX (Azure Blob) or lambda-fs://FILESYSTEM/PREFIX (a Lambda file system; Lambda only). Outputs go under PREFIX/<job id>/."),
    endpoint_url: z
      .string()
      .superRefine((v, ctx) => {
        let u: URL | undefined;
        try {
          u = new URL(v);
        } catch {
          u = undefined;
        }
        if (!u || (u.protocol !== "https:" && u.protocol !== "http:") || u.pathname.replace(/\/$/, "") !== "" || u.search !== "" || u.username !== "") {
          ctx.addIssue({ code: "custom", message: "expected an http(s) origin like https://ACCOUNT.r2.cloudflarestorage.com (no path, no credentials)", params: { showValue: true } });
        }
      })
      .optional()
      .describe("The API origin of a non-default store (R2, MinIO, GCS interop; Azurite or a sovereign Azure cloud); default: AWS S3 in `region`, or https://ACCOUNT.blob.core.windows.net."),
    region: z
      .string()
      .regex(/^[a-z0-9-]{2,32}$/, { error: "expected a region name like us-east-1 (R2: auto)" })
      .default("us-east-1")
      .describe("The region requests are signed for (R2: auto)."),
    access_key_id_env: envNameOf("access key id").default("AWS_ACCESS_KEY_ID").describe("NAME of the env var holding the access key id."),
    secret_access_key_env: envNameOf("secret access key").default("AWS_SECRET_ACCESS_KEY").describe("NAME of the env var holding the secret access key."),
    session_token_env: envNameOf("session token").optional().describe("NAME of the env var holding a session token, for temporary credentials."),
    account_key_env: envNameOf("storage account key")
      .optional()
      .describe("Azure: NAME of the env var holding the storage account key; Kiln ships only a SAS for each of the job's two blobs (outputs.tar, manifest.json), minted from it (default AZURE_STORAGE_KEY)."),
    sas_token_env: envNameOf("SAS token").optional().describe("Azure: NAME of the env var holding a SAS token you made (read, create, write on the container); shipped as given."),
    create: z
      .boolean()
      .optional()
      .describe("lambda-fs only: create the file system (in `region`) when it does not exist. It bills monthly storage until you delete it, so Kiln never creates one unless this is true."),
    access_token_env: envNameOf("access token")
      .optional()
      .describe("gs:// only: NAME of the env var holding an OAuth access token to use instead of Application Default Credentials (e.g. from `gcloud auth print-access-token`); it stays on this computer: Kiln ships only two upload sessions opened with it, each for one object of the job's (outputs.tar, manifest.json), good for a week."),
    role_arn: z
      .string()
      // Any partition: AWS's own (and its China and GovCloud ones), and MinIO's `arn:minio:iam:::role/…`.
      .regex(/^arn:[a-z][a-z0-9-]*:iam::\d{0,12}:role\/[\w+=,.@/-]+$/, { error: "expected an IAM role ARN like arn:aws:iam::123456789012:role/kiln-artifacts" })
      .optional()
      .describe(
        "When set, Kiln assumes this role (STS AssumeRole) with a session policy that allows only the job's prefix, and the machine gets those temporary credentials instead of the key named above.",
      ),
  })
  .superRefine((v, ctx) => {
    if (storeKindOf(v.url) === "lambda-fs" || v.create !== undefined) return volumeStoreFieldProblems(v, ctx);
    if (storeKindOf(v.url) === "gcs" || v.access_token_env !== undefined) return gcsFieldProblems(v, ctx);
    // Each store's own credentials only: a field of the other kind is a mistake worth naming.
    const blob = storeKindOf(v.url) === "azure-blob";
    const wrong = blob ? (["role_arn", "session_token_env"] as const).filter((k) => v[k] !== undefined) : (["account_key_env", "sas_token_env"] as const).filter((k) => v[k] !== undefined);
    for (const k of wrong) ctx.addIssue({ code: "custom", path: [k], message: blob ? `${k} is for S3 stores; an az:// store takes account_key_env or sas_token_env` : `${k} is for Azure Blob stores (az://…); an s3:// store takes access_key_id_env and secret_access_key_env` });
    if (blob && v.account_key_env !== undefined && v.sas_token_env !== undefined) ctx.addIssue({ code: "custom", path: ["sas_token_env"], message: "give account_key_env or sas_token_env, not both" });
  })
  .describe("The durable artifact store: where the on-machine watchdog pushes the outputs (sha256-verified) before it ends billing at the cap.");

export type ArtifactStoreSpec = z.output<typeof artifactStoreSchema>;

/** What happens at the cap with no client when the outputs cannot be made durable first. No default: the user chooses. */
export const CAP_OFFLINE_CHOICES = ["keep-data", "stop-billing"] as const;
export type CapOfflineChoice = (typeof CAP_OFFLINE_CHOICES)[number];

export const onCapOfflineSchema = z
  .enum(CAP_OFFLINE_CHOICES, { error: "expected keep-data (the machine runs on past the cap until a client saves the outputs) or stop-billing (billing ends at the cap; outputs not yet saved are lost)" })
  .optional()
  .describe(
    "At the cap with no client, when the outputs cannot be pushed to a durable store first: keep-data keeps the machine (spend may pass the cap), stop-billing ends billing (unsaved outputs are lost). Required by `kiln run` when the offer has neither a durable store nor a cloud-side stop.",
  );

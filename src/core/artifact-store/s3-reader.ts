/** Reading objects from an S3-compatible store with the AWS SDK (loaded on use), for ./durable-copy.ts. */
import { Readable } from "node:stream";
import { GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { KilnError, UserError } from "../../base/errors.js";
import type { ObjectReader, StoreAccess } from "./durable-copy.js";

export function s3Reader(a: StoreAccess): ObjectReader {
  const l = a.location;
  const c = a.credentials;
  if (l.kind !== "s3" || c.kind !== "s3") throw new Error("s3Reader: not an S3 store");
  const s3 = new S3Client({
    region: l.region,
    endpoint: l.endpoint,
    forcePathStyle: l.addressing === "path",
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey.reveal(), ...(c.sessionToken && { sessionToken: c.sessionToken.reveal() }) },
    maxAttempts: 3,
  });
  return {
    open: async (key) => {
      try {
        const r = await s3.send(new GetObjectCommand({ Bucket: l.bucket, Key: key }), { abortSignal: requestSignal(a) });
        if (!(r.Body instanceof Readable)) throw new KilnError("store-unexpected-body", `the store answered GET ${key} without a body stream`);
        return r.Body;
      } catch (e) {
        if (e instanceof NoSuchKey) return undefined;
        if (e instanceof S3ServiceException && (e.name === "AccessDenied" || e.name === "InvalidAccessKeyId" || e.name === "SignatureDoesNotMatch" || e.name === "NoSuchBucket")) {
          throw new UserError(`the durable store ${l.url} refused to read ${key} (${e.name})`, {
            cause: e,
            hint: "check the credentials named in artifacts.store (they need s3:GetObject on the prefix)",
          });
        }
        throw e;
      }
    },
    close: () => s3.destroy(),
  };
}

/** The caller's signal, and a per-request deadline generous enough for multi-GB checkpoints. */
export const requestSignal = (a: StoreAccess): AbortSignal => AbortSignal.any([...(a.signal ? [a.signal] : []), AbortSignal.timeout(a.requestTimeoutMs ?? 600_000)]);

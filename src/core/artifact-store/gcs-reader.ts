/**
 * Reading objects from a GCS bucket for ./durable-copy.ts: the JSON API's objects.get with `alt=media` and
 * the bearer token (no SDK). Quirk: the object name is one path segment, so its slashes are encoded
 * (`runs%2Fj-1%2Fmanifest.json`). 404 is "not there"; 401/403 means the token cannot read (expired, or
 * not the bucket's), which is the user's to fix.
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { readBounded } from "../../base/bounded-body.js";
import { KilnError, UserError } from "../../base/errors.js";
import type { ObjectReader, StoreAccess } from "./durable-copy.js";
import { requestSignal } from "./s3-reader.js";

/** objects.get's URL for an object's metadata; add `alt=media` for its bytes. */
export const gcsObjectUrl = (endpoint: string, bucket: string, key: string): string => `${endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}`;

/** Google's JSON error envelope's message, for an error line (read bounded: it is never worth more than a line). */
export async function gcsErrorLine(res: Response): Promise<string> {
  // Bounded: an error page is for one line of a message, never worth more than this.
  const text = await readBounded(res, 64 * 1024).catch(() => "");
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === "string") return m.slice(0, 200);
  } catch {
    // not JSON: a proxy's page
  }
  return `HTTP ${res.status}`;
}

export function gcsReader(a: StoreAccess): ObjectReader {
  const l = a.location;
  const c = a.credentials;
  if (l.kind !== "gcs" || c.kind !== "gcs-token") throw new Error("gcsReader: not a GCS store");
  return {
    open: async (key) => {
      const res = await fetch(`${gcsObjectUrl(l.endpoint, l.bucket, key)}?alt=media`, { signal: requestSignal(a), headers: { authorization: `Bearer ${c.token.reveal()}` } });
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (res.status === 401 || res.status === 403) {
        throw new UserError(`the durable store ${l.url} refused to read ${key} (${await gcsErrorLine(res)})`, {
          hint: "check the Google credentials: they need storage.objects.get on the bucket (roles/storage.objectViewer); refresh them with `gcloud auth application-default login`",
        });
      }
      if (!res.ok || !res.body) throw new KilnError("store-read-failed", `GET ${key} from ${l.url} answered HTTP ${res.status} (${await gcsErrorLine(res)})`);
      return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    },
    close: () => {},
  };
}

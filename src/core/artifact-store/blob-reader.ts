/**
 * Reading blobs from an Azure Blob container for ./durable-copy.ts: a plain GET of the blob's URL with the
 * SAS as its query (no SDK). 404 is "not there"; 403 means the SAS cannot read (expired, wrong container,
 * or minted without `r`), which is the user's to fix.
 */
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { KilnError, UserError } from "../../base/errors.js";
import type { ObjectReader, StoreAccess } from "./durable-copy.js";
import { requestSignal } from "./s3-reader.js";

/** A blob name's URL path: each segment encoded, the slashes kept. */
export const blobPath = (key: string): string => key.split("/").map(encodeURIComponent).join("/");

export function blobReader(a: StoreAccess): ObjectReader {
  const l = a.location;
  const c = a.credentials;
  if (l.kind !== "azure-blob" || c.kind !== "azure-sas") throw new Error("blobReader: not an Azure Blob store");
  return {
    open: async (key) => {
      const res = await fetch(`${l.containerUrl}/${blobPath(key)}?${c.sas.reveal()}`, { signal: requestSignal(a), headers: { "x-ms-version": "2020-12-06" } });
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (res.status === 403 || res.status === 401) {
        const code = res.headers.get("x-ms-error-code") ?? `HTTP ${res.status}`;
        await res.body?.cancel();
        throw new UserError(`the durable store ${l.url} refused to read ${key} (${code})`, {
          hint: "check artifacts.store's credential: a SAS needs read (r) on the container and must not have expired",
        });
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new KilnError("store-read-failed", `GET ${key} from ${l.url} answered HTTP ${res.status} (${res.headers.get("x-ms-error-code") ?? "no error code"})`);
      }
      return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    },
    close: () => {},
  };
}

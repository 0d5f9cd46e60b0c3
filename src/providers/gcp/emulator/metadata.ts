/**
 * The metadata server as one emulated VM sees it (`http://metadata.google.internal/computeMetadata/v1/…`
 * on GCE), served at `/__metadata/{zone}/{name}/computeMetadata/v1/…`: on loopback every machine shares one
 * address, so the machine is named in the path. Only what Kiln reads: `instance/preempted`, FALSE until
 * the VM's preemption begins, then TRUE until it is gone (the on-machine notice watcher,
 * src/core/lifecycle/notice.ts, polls it with the descriptor's `Metadata-Flavor: Google`).
 *
 * A VM's own sessions reach it at GCE's address: the emulator gives each machine `http_proxy` naming this
 * emulator with the machine in the proxy credentials (`http://{zone}.{name}:metadata@127.0.0.1:PORT`, and
 * `no_proxy` for loopback), so `curl http://metadata.google.internal/computeMetadata/v1/…` on the machine,
 * the descriptor's URL unchanged, lands here as a proxied request for that machine ({@link proxiedMetadata}).
 *
 * As GCE's: a request without `Metadata-Flavor: Google` is refused with 403 (the header is how the server
 * tells a deliberate query from a forwarded one); values are text/plain with an ETag; `?wait_for_change=true`
 * holds the answer until the value differs from the one seen at the request (or `last_etag`'s), or
 * `timeout_sec` passes (capped here at 60 s), then answers the value as it is.
 */
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import { GcpAccount } from "./account.js";

export const METADATA_PREFIX = "/__metadata/";
const ROUTE = /^\/__metadata\/([^/]+)\/([^/]+)\/computeMetadata\/v1\/instance\/preempted$/;

/** The URL of a machine's `preempted` key on the emulator at `origin`. */
export const preemptedUrl = (origin: string, zone: string, name: string): string => `${origin}${METADATA_PREFIX}${zone}/${name}/computeMetadata/v1/instance/preempted`;

const text = (status: number, body: string, headers: Record<string, string> = {}): EmuReply => ({ status, text: body, contentType: "text/plain", headers: { "metadata-flavor": "Google", ...headers } });
const etagOf = (v: string) => (v === "TRUE" ? "7475652d70726565" : "66616c73652d7072");

export const METADATA_HOST = "metadata.google.internal";

/** The environment that sends a machine's requests for metadata.google.internal to the emulator at `port`. */
export function metadataProxyEnv(port: number, zone: string, name: string): Record<string, string> {
  const loopback = "127.0.0.1,localhost,::1";
  return { http_proxy: `http://${zone}.${name}:metadata@127.0.0.1:${port}`, no_proxy: loopback, NO_PROXY: loopback };
}

/** A machine's proxied request for `http://metadata.google.internal/…`, or undefined when `r` is not one. */
export async function proxiedMetadata(account: GcpAccount, r: EmuRequest): Promise<EmuReply | undefined> {
  if (String(r.headers.host ?? "").replace(/:80$/, "") !== METADATA_HOST) return undefined;
  const auth = /^Basic\s+(\S+)$/i.exec(String(r.headers["proxy-authorization"] ?? ""));
  const who = auth ? /^([a-z0-9-]+)\.([a-z0-9-]+):/.exec(Buffer.from(auth[1]!, "base64").toString("utf8")) : null;
  if (!who) return text(407, "Proxy Authentication Required", { "proxy-authenticate": 'Basic realm="emulated metadata server"' });
  return metadataRoute(account, { ...r, path: `${METADATA_PREFIX}${who[1]}/${who[2]}${r.path}` });
}

export async function metadataRoute(account: GcpAccount, r: EmuRequest): Promise<EmuReply> {
  const m = ROUTE.exec(r.path);
  if (!m || r.method !== "GET") return text(404, "Not Found");
  if (String(r.headers["metadata-flavor"] ?? "").toLowerCase() !== "google") return text(403, "Missing Metadata-Flavor:Google header.");
  const id = GcpAccount.idOf(account.o.project, m[1]!, m[2]!);
  const value = () => (account.instances.has(id) ? (account.preempted.has(id) ? "TRUE" : "FALSE") : undefined);
  const first = value();
  if (first === undefined) return text(404, "Not Found");
  if (r.query.get("wait_for_change") === "true") {
    const seen = r.query.get("last_etag") ?? etagOf(first);
    const until = Date.now() + Math.min(60, Number(r.query.get("timeout_sec") ?? 60) || 60) * 1000;
    while (Date.now() < until) {
      const v = value();
      if (v === undefined || etagOf(v) !== seen) break;
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  const v = value();
  if (v === undefined) return text(404, "Not Found");
  return text(200, v, { etag: etagOf(v) });
}

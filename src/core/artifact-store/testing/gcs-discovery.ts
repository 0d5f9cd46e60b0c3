/**
 * (Test tooling; the build skips testing/ folders.)
 *
 * Checks the GCS emulator's traffic (./gcs.ts) against Google's storage v1 discovery document (the subset
 * in ./gcs-discovery/, provenance in its README) with the GCE checker's {@link DiscoveryDoc}: each request's
 * method, path and query parameters, JSON request bodies, and JSON replies (the `Object`/`Objects` schemas,
 * Google's error envelope). What the document does not describe is checked by hand here: a resumable
 * upload's chunks (PUT to the session URI: the upload path with `upload_id`, answered 308 or with the
 * object), byte replies to `alt=media`, and the STS token exchange (RFC 8693 replies, OAuth errors).
 *
 * @example
 *   const check = gcsDiscoveryChecker();
 *   const emu = await startGcsEmulator({ buckets: ["b"], onExchange: check.onExchange });
 *   …; expect(check.violations).toEqual([]);
 */
import { resolve } from "node:path";
import { DiscoveryDoc } from "../../../providers/gcp/testing/discovery.js";
import type { GcsExchange, GcsReply } from "./gcs.js";

export const GCS_DISCOVERY = resolve(import.meta.dirname, "gcs-discovery", "storage.v1.objects-subset.json");

const UPLOAD = /^\/upload\/storage\/v1\/b\/[^/]+\/o$/;

export function gcsDiscoveryChecker(doc: DiscoveryDoc = DiscoveryDoc.load(GCS_DISCOVERY)): { onExchange(req: GcsExchange, reply: GcsReply): void; violations: string[]; exercised: Set<string> } {
  const violations: string[] = [];
  const exercised = new Set<string>();
  return {
    violations,
    exercised,
    onExchange(req, reply) {
      if (req.path === "/v1/token") {
        exercised.add("sts.token");
        const ok = reply.status === 200 ? typeof (reply.body as { access_token?: unknown })?.access_token === "string" : typeof (reply.body as { error?: unknown })?.error === "string";
        if (!ok) violations.push(`sts.token: ${reply.status} reply is not RFC 8693's: ${JSON.stringify(reply.body)}`);
        return;
      }
      if (req.method === "PUT" && UPLOAD.test(req.path) && req.query.has("upload_id")) {
        exercised.add("storage.objects.insert#resumable-chunk");
        const extra = [...req.query.keys()].filter((k) => !["upload_id", "uploadType", "name"].includes(k));
        if (extra.length > 0) violations.push(`resumable chunk: unexpected query parameters ${extra.join(", ")}`);
        if (reply.status === 308) return;
        const m = doc.match("POST", req.path);
        if (m) violations.push(...doc.checkResponse(m.method, reply.status, reply.body));
        return;
      }
      const { method, violations: v } = doc.checkRequest({ method: req.method, path: req.path.replace(/^\/download\//, "/"), query: req.query, body: req.body });
      violations.push(...v);
      if (!method) return;
      const id = `${method.id}${UPLOAD.test(req.path) ? `#${req.query.get("uploadType")}` : req.query.get("alt") === "media" ? "#media" : ""}`;
      exercised.add(id);
      // Bytes (alt=media) and a resumable session's empty 200 (its URI is in Location) carry no JSON to check.
      if (reply.body === undefined && reply.status < 300) return;
      violations.push(...doc.checkResponse(method, reply.status, reply.body));
    },
  };
}

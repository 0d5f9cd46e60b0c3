/**
 * Azure's Scheduled Events as one emulated VM sees it: the Instance Metadata Service's
 * `GET http://169.254.169.254/metadata/scheduledevents?api-version=…` with `Metadata: true`, the notice Kiln's
 * on-machine watcher polls (the descriptor's `reclaimNotice`, src/core/lifecycle/notice.ts). Only what Kiln
 * reads: a Spot eviction's `Preempt` event, in the document's real shape (api-version 2020-07-01):
 *
 *   {"DocumentIncarnation":1,"Events":[{"EventId":"…","EventType":"Preempt","ResourceType":"VirtualMachine",
 *    "Resources":["kiln-…"],"EventStatus":"Scheduled","NotBefore":"Tue, 09 Aug 2022 17:07:32 GMT",
 *    "Description":"","EventSource":"Platform","DurationInSeconds":-1}]}
 *
 * `DocumentIncarnation` grows whenever the events change; no events is `{"DocumentIncarnation":0,"Events":[]}`.
 * `NotBefore` is an RFC 1123 date, ≥ 30 s ahead for Preempt on Azure; the event turns `Started` when it is
 * carried out. As IMDS: no `Metadata: true` header is a 400, and so is a missing or unknown api-version.
 *
 * Two ways in, as the GCE emulator's metadata server (../../gcp/emulator/metadata.ts) and the EC2 shim's
 * IMDS (`/__imds/<id>/…`, ../../aws/testing/front.ts):
 * - `/__imds/{vmId}/metadata/scheduledevents`: on loopback every machine shares one address, so the VM
 *   (its `vmId`) is named in the path; tests read it directly.
 * - a VM's own sessions reach it at Azure's address, the descriptor's URL unchanged: each machine gets
 *   `http_proxy` naming this emulator with its vmId as the proxy user (`no_proxy` for loopback), so curl's
 *   `GET http://169.254.169.254/metadata/scheduledevents…` lands here as a proxied request for that VM.
 */
import { randomUUID } from "node:crypto";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";

export const IMDS_HOST = "169.254.169.254";
export const IMDS_PREFIX = "/__imds/";
const ROUTE = /^\/__imds\/([0-9a-f-]+)(\/metadata\/scheduledevents)$/i;
const PATH = "/metadata/scheduledevents";
/** The Scheduled Events versions IMDS answers (newest last). */
const VERSIONS = ["2017-03-01", "2017-08-01", "2017-11-01", "2019-01-01", "2019-04-01", "2019-08-01", "2020-07-01"];

export interface ScheduledEvent {
  EventId: string;
  EventType: "Preempt" | "Reboot" | "Redeploy" | "Freeze" | "Terminate";
  ResourceType: "VirtualMachine";
  Resources: string[];
  EventStatus: "Scheduled" | "Started";
  NotBefore: string;
  Description: string;
  EventSource: "Platform" | "User";
  DurationInSeconds: number;
}

export interface ScheduledEventsDocument {
  DocumentIncarnation: number;
  Events: ScheduledEvent[];
}

/** A Spot eviction's event for VM `vmName`, carried out at `notBeforeMs`. */
export const preemptEvent = (vmName: string, notBeforeMs: number): ScheduledEvent => ({
  EventId: randomUUID().toUpperCase(),
  EventType: "Preempt",
  ResourceType: "VirtualMachine",
  Resources: [vmName],
  EventStatus: "Scheduled",
  NotBefore: new Date(notBeforeMs).toUTCString(),
  Description: "",
  EventSource: "Platform",
  DurationInSeconds: -1,
});

/** What the routes need of the account: a VM's document by its vmId, and a log of what each read saw. */
export interface ScheduledEventsSource {
  documentOf(vmId: string): ScheduledEventsDocument | undefined;
  recordRead(vmId: string, doc: ScheduledEventsDocument): void;
}

/** The environment that sends VM `vmId`'s requests for 169.254.169.254 to the emulator at `port`. */
export function imdsProxyEnv(port: number, vmId: string): Record<string, string> {
  const loopback = "127.0.0.1,localhost,::1";
  return { http_proxy: `http://${vmId}:imds@127.0.0.1:${port}`, no_proxy: loopback, NO_PROXY: loopback };
}

/** The URL of VM `vmId`'s Scheduled Events on the emulator at `origin` (on Azure: http://169.254.169.254/…). */
export const scheduledEventsUrl = (origin: string, vmId: string, apiVersion = "2020-07-01"): string => `${origin}${IMDS_PREFIX}${vmId}${PATH}?api-version=${apiVersion}`;

const bad = (error: string, versions = false): EmuReply => ({ status: 400, body: { error, ...(versions && { "newest-versions": VERSIONS.slice(-3).reverse() }) } });

/** A machine's proxied request for `http://169.254.169.254/…`, or undefined when `r` is not one. */
export function proxiedImds(src: ScheduledEventsSource, r: EmuRequest, dispatch: (r: EmuRequest) => EmuReply = (x) => imdsRoute(src, x)): EmuReply | undefined {
  if (String(r.headers.host ?? "").replace(/:80$/, "") !== IMDS_HOST) return undefined;
  const auth = /^Basic\s+(\S+)$/i.exec(String(r.headers["proxy-authorization"] ?? ""));
  const vmId = auth ? /^([0-9a-f-]+):/i.exec(Buffer.from(auth[1]!, "base64").toString("utf8"))?.[1] : undefined;
  if (!vmId) return { status: 407, text: "Proxy Authentication Required", contentType: "text/plain", headers: { "proxy-authenticate": 'Basic realm="emulated IMDS"' } };
  return dispatch({ ...r, path: `${IMDS_PREFIX}${vmId}${r.path}` });
}

export function imdsRoute(src: ScheduledEventsSource, r: EmuRequest): EmuReply {
  const m = ROUTE.exec(r.path);
  if (!m || r.method !== "GET") return { status: 404, body: { error: "Not found" } };
  if (String(r.headers["metadata"] ?? "").toLowerCase() !== "true") return bad("Bad request. Required metadata header not specified");
  const version = r.query.get("api-version");
  if (!version) return bad("Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds", true);
  if (!VERSIONS.includes(version)) return bad("Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds", true);
  const doc = src.documentOf(m[1]!.toLowerCase());
  if (!doc) return { status: 404, body: { error: "Not found" } };
  src.recordRead(m[1]!.toLowerCase(), doc);
  // IMDS answers compact JSON: the watcher's pattern must match `"EventType":"Preempt"` with no spaces.
  return { status: 200, body: doc };
}

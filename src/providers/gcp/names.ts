/**
 * GCE names and ids. A machine's id is `project/zone/name` (GCE finds an instance only with its project and
 * zone; the core treats ids as opaque). Names must match `[a-z]([-a-z0-9]*[a-z0-9])?` and be ≤ 63
 * characters (RFC 1035, the discovery document's `Instance.name`). The launch's `requestId` is a UUID made
 * from the intent id, so a launch retried after a lost answer is the same request to GCE, which then
 * answers with the first request's operation instead of creating a second VM (docs/lifecycle.md §12).
 */
import { createHash } from "node:crypto";
import { machineNameFor, ProviderError } from "../provider.js";

export const GCE_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const GCE_NAME_MAX = 63;

export interface GcpMachineRef {
  project: string;
  zone: string;
  name: string;
}

export const machineIdOf = (r: GcpMachineRef): string => `${r.project}/${r.zone}/${r.name}`;

/** Parse Kiln's GCE machine id; a malformed one is a Kiln bug (kind invalid), never guessed at. */
export function parseMachineId(id: string): GcpMachineRef {
  const parts = id.split("/");
  const [project, zone, name] = parts;
  if (parts.length !== 3 || !project || !zone || !name || !/^[a-z][-a-z0-9]*$/.test(zone)) {
    throw new ProviderError("gcp", "invalid", `not a GCE machine id: ${JSON.stringify(id)} (expected project/zone/name)`, { code: "kiln/bad-machine-id" });
  }
  return { project, zone, name };
}

/**
 * `kiln-<intentId>`, checked against GCE's rule. Kiln's intent ids (`<8 hex>-<10 hex>`) always fit; one
 * that does not is refused (kind invalid) rather than rewritten, because reconciliation finds the machine
 * by exactly this name.
 */
export function gceNameFor(intentId: string): string {
  const name = machineNameFor(intentId);
  if (name.length > GCE_NAME_MAX || !GCE_NAME.test(name)) {
    throw new ProviderError("gcp", "invalid", `intent id ${JSON.stringify(intentId)} makes the name ${JSON.stringify(name)}, which GCE refuses (lowercase letters, digits and '-', at most ${GCE_NAME_MAX} characters, starting with a letter and not ending with '-')`, { code: "kiln/bad-machine-name" });
  }
  return name;
}

/** A deterministic RFC 4122 UUID (version 5 layout over SHA-256) for one request about one thing. */
export function requestIdFor(purpose: "insert" | "delete", key: string): string {
  const h = createHash("sha256").update(`kiln/gcp/${purpose}/${key}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** The last path segment of a GCE URL or partial URL (`…/zones/us-central1-a` → `us-central1-a`). */
export const lastSegment = (url: string | undefined | null): string => (url ?? "").split("/").filter(Boolean).pop() ?? "";

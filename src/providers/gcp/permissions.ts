/**
 * Which of the permissions Kiln needs the principal lacks on the project, per action, for `kiln check`. The
 * Compute SDK has no project-level testIamPermissions (Compute's `instances.testIamPermissions` needs an
 * existing instance), so this asks the Cloud Resource Manager API (`projects.testIamPermissions`, v1:
 * `POST https://cloudresourcemanager.googleapis.com/v1/projects/{project}:testIamPermissions`, body
 * `{permissions}`, answer `{permissions}` = the subset held, the key left out when none is) with the same
 * ADC credentials [A: that API must be enabled on the project; when it is not, the check says so and the
 * permissions are left untested]. Only project-level grants are seen: a role on a narrower scope is not.
 */
import { z } from "zod";
import { readBounded } from "../../base/bounded-body.js";

export type GcpAction = "launch" | "describe" | "terminate" | "tagging";

/**
 * What each of Kiln's actions calls needs. launch: instances.insert with a boot disk from an image, an
 * external NAT address on the default network and per-instance `ssh-keys` metadata, then polls its
 * operation; describe: instances.get/aggregatedList and the zone's operations (preemption); terminate:
 * instances.delete; tagging: the labels launch sets (`kiln`, `kiln-intent`) and finds machines by.
 */
export const PERMISSIONS_BY_ACTION: Readonly<Record<GcpAction, readonly string[]>> = {
  launch: ["compute.instances.create", "compute.disks.create", "compute.subnetworks.use", "compute.subnetworks.useExternalIp", "compute.instances.setMetadata", "compute.zoneOperations.get"],
  describe: ["compute.instances.get", "compute.instances.list", "compute.zoneOperations.list"],
  terminate: ["compute.instances.delete"],
  tagging: ["compute.instances.setLabels"],
};

export const REQUIRED_PERMISSIONS: readonly string[] = [...new Set(Object.values(PERMISSIONS_BY_ACTION).flat())];

export const RESOURCE_MANAGER_URL = "https://cloudresourcemanager.googleapis.com";

const Granted = z.object({ permissions: z.array(z.string()).optional() }).passthrough();

export type PermissionCheck = { missing: string[]; byAction: Partial<Record<GcpAction, string[]>> } | { untested: string };

export async function missingPermissions(auth: { getRequestHeaders(url: string): Promise<Headers> }, project: string, signal: AbortSignal, o: { url?: string } = {}): Promise<PermissionCheck> {
  const url = `${o.url ?? RESOURCE_MANAGER_URL}/v1/projects/${encodeURIComponent(project)}:testIamPermissions`;
  let why: string;
  try {
    const headers = await auth.getRequestHeaders(url);
    headers.set("content-type", "application/json");
    const res = await fetch(url, { method: "POST", headers, body: JSON.stringify({ permissions: REQUIRED_PERMISSIONS }), signal: AbortSignal.any([signal, AbortSignal.timeout(20_000)]) });
    // A list of permission names; past this it is not Google's answer (refused: the check is then untested).
    const text = await readBounded(res, 256 * 1024);
    if (res.ok) {
      const parsed = Granted.safeParse(safeJson(text));
      if (parsed.success) return missingOf(new Set(parsed.data.permissions ?? []));
      why = `an answer Kiln cannot read (${parsed.error.issues[0]?.path.join(".") || "body"}: ${parsed.error.issues[0]?.message ?? "invalid"})`;
    } else why = `HTTP ${res.status}`;
  } catch (e) {
    if (signal.aborted) throw e;
    why = e instanceof Error ? e.message : String(e);
  }
  return { untested: `Cloud Resource Manager's testIamPermissions answered ${why}; is cloudresourcemanager.googleapis.com enabled?` };
}

function missingOf(granted: ReadonlySet<string>): { missing: string[]; byAction: Partial<Record<GcpAction, string[]>> } {
  const byAction: Partial<Record<GcpAction, string[]>> = {};
  for (const [action, perms] of Object.entries(PERMISSIONS_BY_ACTION) as [GcpAction, readonly string[]][]) {
    const lacking = perms.filter((p) => !granted.has(p));
    if (lacking.length > 0) byAction[action] = lacking;
  }
  return { missing: REQUIRED_PERMISSIONS.filter((p) => !granted.has(p)), byAction };
}

/** `kiln check`'s words for the result: "launch: a, b; terminate: c", or that all are granted. */
export function describePermissions(p: PermissionCheck): string {
  if ("untested" in p) return `permissions not tested: ${p.untested}`;
  if (p.missing.length === 0) return "all permissions Kiln needs are granted (launch, describe, terminate, tagging)";
  const parts = Object.entries(p.byAction).map(([action, perms]) => `${action}: ${perms.join(", ")}`);
  return `missing permissions on the project (a role on a narrower scope is not seen here) — ${parts.join("; ")}`;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Which of the permissions Kiln needs the principal lacks on the project, for `kiln check`. The Compute
 * SDK has no project-level testIamPermissions (Compute's `instances.testIamPermissions` needs an existing
 * instance), so this asks the Cloud Resource Manager API (`projects.testIamPermissions`, v1) directly with
 * the same ADC credentials [A: that API must be enabled on the project; when it is not, the check says so
 * and the permissions are left untested].
 */
import type { GoogleAuth } from "google-auth-library";
import { z } from "zod";

export const REQUIRED_PERMISSIONS = [
  "compute.instances.create",
  "compute.instances.get",
  "compute.instances.list",
  "compute.instances.delete",
  "compute.instances.setMetadata",
  "compute.instances.setLabels",
  "compute.disks.create",
  "compute.subnetworks.use",
  "compute.subnetworks.useExternalIp",
  "compute.zoneOperations.get",
  "compute.zoneOperations.list",
] as const;

const Granted = z.object({ permissions: z.array(z.string()).optional() }).passthrough();

export async function missingPermissions(auth: GoogleAuth, project: string, signal: AbortSignal): Promise<{ missing: string[] } | { untested: string }> {
  try {
    const res = await auth.request({
      url: `https://cloudresourcemanager.googleapis.com/v1/projects/${encodeURIComponent(project)}:testIamPermissions`,
      method: "POST",
      data: { permissions: REQUIRED_PERMISSIONS },
      signal,
      timeout: 20_000,
    });
    const granted = new Set(Granted.parse(res.data).permissions ?? []);
    return { missing: REQUIRED_PERMISSIONS.filter((p) => !granted.has(p)) };
  } catch (e) {
    const status = (e as { response?: { status?: number } }).response?.status;
    return { untested: `Cloud Resource Manager's testIamPermissions answered ${status ?? (e instanceof Error ? e.message : String(e))}; is cloudresourcemanager.googleapis.com enabled?` };
  }
}

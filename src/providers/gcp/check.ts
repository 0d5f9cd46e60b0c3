/**
 * `kiln check` for GCE: one read-only call (instances.aggregatedList filtered to Kiln's names, which needs
 * compute.instances.list), naming the project, the principal and where the credentials came from, then the
 * permissions Kiln needs that the principal lacks, per action (Cloud Resource Manager's testIamPermissions).
 */
import { UserError } from "../../base/errors.js";
import type { ProviderContext } from "../descriptor.js";
import { ProviderError } from "../provider.js";
import { configuredGcp } from "./configured.js";
import { describePermissions } from "./permissions.js";
import { GCP_CREDENTIALS_PAGE } from "./settings.js";

export async function checkGcp(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  let cloud: Awaited<ReturnType<typeof configuredGcp>>;
  try {
    cloud = await configuredGcp(ctx);
  } catch (e) {
    if (e instanceof ProviderError) throw new UserError(`GCE: ${e.message}`, { cause: e, hint: e.suggestion ?? `see ${GCP_CREDENTIALS_PAGE}` });
    throw new UserError(`GCE: the Application Default Credentials could not be loaded (${e instanceof Error ? e.message : String(e)})`, { cause: e, hint: `run \`gcloud auth application-default login\`, or see ${GCP_CREDENTIALS_PAGE}` });
  }
  if (!cloud) return undefined;
  const { project } = cloud;
  try {
    const machines = await cloud.provider.listMachines(signal);
    const who = `project ${project} as ${cloud.principal} (credentials: ${cloud.source})`;
    return `${who}: ${machines.length} Kiln machine(s) now; ${describePermissions(await cloud.missingPermissions(signal))}`;
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") throw new UserError(`GCE refused the credentials from ${cloud.source} for project ${project} (${e.code ?? `HTTP ${e.status ?? "?"}`}: ${e.message})`, { cause: e, hint: e.suggestion ?? `see ${GCP_CREDENTIALS_PAGE}` });
    throw new UserError(`could not check GCE: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  }
}

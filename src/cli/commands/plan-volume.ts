/**
 * `kiln plan` for a job whose store is a Lambda file system: look the file system up through Lambda's API
 * (when Lambda is configured) and keep Lambda's offers to its region, as `kiln run` will. Never creates one.
 */
import { UserError } from "../../base/errors.js";
import type { JobSpec } from "../../core/spec/index.js";
import { isVolumeStoreUrl } from "../../core/spec/lambda-fs.js";
import type { CommandContext } from "../command.js";

export function volumeStoreAdjust(ctx: CommandContext): (spec: JobSpec) => Promise<{ spec: JobSpec; notes: string[] }> {
  return async (spec) => {
    const url = spec.artifacts.store?.url;
    if (url === undefined || !isVolumeStoreUrl(url)) return { spec, notes: [] };
    const { checkVolumeStore, volumeStoreOwner } = await import("../../core/lifecycle/volume-store.js");
    const { requireCloud } = await import("../../core/lifecycle/providers.js");
    const { supportsVolumes } = await import("../../providers/provider.js");
    const owner = volumeStoreOwner(url);
    const cloud = owner && spec.resources.providers.includes(owner.name)
      ? await requireCloud(owner.name, { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger }).catch((e: unknown) => {
          // Not configured: the plan says the file system was not looked up; anything else is the user's to see.
          if (e instanceof UserError) return undefined;
          throw e;
        })
      : undefined;
    const volumes = cloud && supportsVolumes(cloud.provider) ? cloud.provider : undefined;
    const v = await checkVolumeStore({ spec, providers: spec.resources.providers, volumes, mode: "plan", signal: ctx.signal });
    return v ? { spec: v.spec, notes: [v.note] } : { spec, notes: [] };
  };
}

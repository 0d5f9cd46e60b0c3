/**
 * A provider volume as the job's durable store (`artifacts.store.url: lambda-fs://NAME/PREFIX`): checked
 * before the meter starts, by `kiln plan` and `kiln run`, through the provider's API.
 *
 * - The job must run on Lambda: no other provider can attach a Lambda file system (a UserError naming
 *   artifacts.store.url otherwise).
 * - A file system attaches only to instances in its own region, so Lambda's offers are limited to that
 *   region (the spec's `resources.regions` becomes `[region]`; a spec that lists other regions only is refused).
 * - A file system that does not exist is never created silently: it bills monthly for its storage until
 *   deleted. `kiln run` creates it (in `artifacts.store.region`) only when the spec says `create: true`;
 *   `kiln plan` only says what run would do.
 */
import { UserError } from "../../base/errors.js";
import type { SupportsVolumes } from "../../providers/provider.js";
import type { ProviderDescriptor } from "../../providers/descriptor.js";
import { providerNamed, providers } from "../../providers/registry.js";
import type { JobSpec } from "../spec/index.js";
import { isVolumeStoreUrl, parseVolumeStoreUrl } from "../spec/lambda-fs.js";

export interface VolumeStoreCheck {
  /** The spec with Lambda's offers limited to the file system's region. */
  spec: JobSpec;
  name: string;
  /** The file system's region (or, when it is still to be created, the region it will be created in). */
  region: string;
  /** What was found or done, for the plan and the run's log. */
  note: string;
}

/**
 * The provider whose volumes a store URL names (the descriptor whose `cap.volumeStore` is the URL's scheme:
 * Lambda for `lambda-fs://`), or undefined for an object store.
 */
export function volumeStoreOwner(url: string | undefined): ProviderDescriptor | undefined {
  if (url === undefined || !isVolumeStoreUrl(url)) return undefined;
  const scheme = url.slice(0, url.indexOf("://")).toLowerCase();
  return providers().find((d) => d.cap?.volumeStore === scheme);
}

/** The launch request's volume for a job whose store is a Lambda file system (spread into LaunchOptions). */
export function persistentVolumeFor(spec: JobSpec): { persistentVolume?: { name: string } } {
  const url = spec.artifacts.store?.url;
  return url !== undefined && isVolumeStoreUrl(url) ? { persistentVolume: { name: parseVolumeStoreUrl(url).name } } : {};
}

/**
 * Check (and for `run` with `create: true`, create) the job's Lambda file system, and narrow the spec to its
 * region. Undefined when the job's store is not a provider volume. `volumes`: the Lambda account, or
 * undefined when it cannot be asked (not configured: `plan` says so; `run` refuses).
 *
 * @example
 *   const v = await checkVolumeStore({ spec, providers: ["lambda"], volumes: cloud.provider as LambdaProvider, mode: "run", signal });
 *   if (v) spec = v.spec;
 */
export async function checkVolumeStore(o: { spec: JobSpec; providers: readonly string[]; volumes: SupportsVolumes | undefined; mode: "plan" | "run"; signal: AbortSignal }): Promise<VolumeStoreCheck | undefined> {
  const store = o.spec.artifacts.store;
  if (!store || !isVolumeStoreUrl(store.url)) return undefined;
  const { name } = parseVolumeStoreUrl(store.url);
  const owner = volumeStoreOwner(store.url);
  if (!owner) throw new Error(`no provider registers the store scheme of ${store.url}`);
  const others = o.providers.filter((p) => p !== owner.name && providerNamed(p).kind === "cloud");
  if (others.length > 0) {
    throw new UserError(`artifacts.store.url: ${store.url} is a Lambda file system, which only Lambda machines can attach; ${others.map((p) => providerNamed(p).title).join(" and ")} cannot write to it`, {
      exitCode: 2,
      hint: `run the job on ${owner.title} alone (--provider ${owner.name}), or use an object store: s3://BUCKET/PREFIX or az://ACCOUNT/CONTAINER/PREFIX`,
    });
  }
  if (!o.volumes) {
    if (o.mode === "run") throw new UserError(`artifacts.store.url: ${store.url} needs the ${owner.title} API to find the file system's region`, { exitCode: 2, hint: `configure ${owner.title} (kiln check ${owner.name}); \`--sim\` cannot rehearse a ${owner.cap?.volumeStore} store` });
    return { spec: o.spec, name, region: "", note: `the Lambda file system ${name} was not looked up (Lambda is not configured here): \`kiln run\` checks it and keeps to its region` };
  }
  const found = (await o.volumes.listVolumes(o.signal)).find((v) => v.name === name);
  let region: string;
  let note: string;
  if (found) {
    region = found.region;
    note = `Lambda offers limited to ${region}, where the file system ${name} is (a file system attaches only to machines in its region)`;
  } else if (store.create !== true) {
    throw new UserError(`artifacts.store.url: the Lambda file system "${name}" does not exist`, {
      exitCode: 2,
      hint: `create it in the Lambda console (Storage → Create filesystem) in the region to run in, or set artifacts.store.create: true and \`kiln run\` creates it in artifacts.store.region (${store.region}). A file system bills monthly for its storage until you delete it, so Kiln never creates one unasked`,
    });
  } else if (o.mode === "plan") {
    region = store.region;
    note = `the Lambda file system ${name} does not exist: \`kiln run\` will create it in ${region} (create: true; it bills monthly for its storage until you delete it) and keep to that region`;
  } else {
    region = (await o.volumes.createVolume(name, store.region, o.signal)).region;
    note = `created the Lambda file system ${name} in ${region} (create: true); it bills monthly for its storage until you delete it`;
  }
  const wanted = o.spec.resources.regions;
  if (wanted && !wanted.includes(region)) {
    throw new UserError(`resources.regions: ${wanted.join(", ")} leaves out ${region}, the region of the Lambda file system ${name} (artifacts.store.url)`, { exitCode: 2, hint: `add ${region} to resources.regions, or use a file system in one of those regions` });
  }
  return { spec: { ...o.spec, resources: { ...o.spec.resources, regions: [region] } }, name, region, note };
}

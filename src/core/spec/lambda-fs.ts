/**
 * `artifacts.store.url: lambda-fs://FILESYSTEM/PREFIX`: a Lambda Cloud file system as the durable store
 * (docs/job-spec.md). Lambda file systems are NFS shares that outlive the instances they are attached to;
 * an instance launched with `file_system_names: [FILESYSTEM]` sees it at `/lambda/nfs/FILESYSTEM`, and
 * only instances in the file system's region can attach it. So this store works only for Lambda
 * machines, needs no credential (the mount is the access), and pins the job to one region.
 *
 * The rules for the parts of the URL live here; ./artifact-store.ts calls them from its one URL parser.
 */
import type { z } from "zod";

// Lambda's rule for file system names (POST /filesystems): a letter first, then letters, digits and
// hyphens; at most 60 characters. The emulator refuses the same (src/providers/lambda/emulator/requests.ts).
const FS_NAME = /^[a-zA-Z][0-9a-zA-Z-]{0,59}$/;

export const isVolumeStoreUrl = (url: string): boolean => url.toLowerCase().startsWith("lambda-fs://");

/** Why `lambda-fs://NAME/REST` is refused, or undefined. `prefixProblem` is the stores' shared prefix rule. */
export function volumeStoreUrlProblem(name: string, rest: string, prefixProblem: (rest: string, example: string) => string | undefined): string | undefined {
  if (!FS_NAME.test(name)) return `"${name}" is not a Lambda file system name (a letter, then letters, digits and hyphens; at most 60 characters)`;
  return prefixProblem(rest, "lambda-fs://FILESYSTEM/PREFIX");
}

/** The parts of `artifacts.store` these checks read. */
interface StoreFields {
  url: string;
  create?: boolean | undefined;
  endpoint_url?: string | undefined;
  role_arn?: string | undefined;
  session_token_env?: string | undefined;
  account_key_env?: string | undefined;
  sas_token_env?: string | undefined;
  access_token_env?: string | undefined;
}

/** Fields that do not belong with a lambda-fs store (credentials of other stores), or `create` on another store. */
export function volumeStoreFieldProblems(v: StoreFields, ctx: z.RefinementCtx): void {
  if (!isVolumeStoreUrl(v.url)) {
    ctx.addIssue({ code: "custom", path: ["create"], message: "create is for Lambda file systems (lambda-fs://FILESYSTEM/PREFIX); an object store must exist already" });
    return;
  }
  for (const k of ["endpoint_url", "role_arn", "session_token_env", "account_key_env", "sas_token_env", "access_token_env"] as const) {
    if (v[k] !== undefined) ctx.addIssue({ code: "custom", path: [k], message: `${k} is for object stores; a Lambda file system (lambda-fs://) needs no credentials: it is attached to the machine at launch` });
  }
}

/** Name and prefix of a lambda-fs URL (already validated by the schema). */
export function parseVolumeStoreUrl(url: string): { name: string; prefix: string } {
  const rest = url.slice(url.indexOf("://") + 3);
  const [name = "", ...path] = rest.split("/");
  return { name, prefix: path.filter((s) => s !== "").join("/") };
}

/**
 * Where Lambda mounts a file system on an instance launched with it. Quirk: the API's `file_system_names`
 * takes names, and Lambda mounts each at `/lambda/nfs/<name>` (the `mount_point` GET /file-systems reports;
 * the OpenAPI spec's example is `/lambda/nfs/my-filesystem`). The path is fixed by Lambda, not chosen at launch.
 */
export const volumeMountPoint = (name: string): string => `/lambda/nfs/${name}`;

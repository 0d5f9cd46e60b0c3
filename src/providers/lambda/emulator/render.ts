/**
 * JSON bodies exactly as spec 1.8.3 shapes them (the OpenAPI test helper checks every one): optional
 * fields are *omitted*, never null (`ip` while booting, `file_system_mounts` with no file systems),
 * and every error is `{"error": {code, message, suggestion?}}` with the spec's default wording.
 */
import type { EmulatedInstance, FileSystemRecord, LambdaAccount } from "./account.js";
import type { EmulatorInstanceType } from "./config.js";

export interface ErrorBody {
  status: number;
  code: string;
  message: string;
  suggestion?: string;
  /** Response headers besides the JSON ones (`Allow` on a 405). */
  headers?: Record<string, string>;
}

/** What a route answers: `{data}` with 200, or an error envelope. */
export type RouteResult = { status: 200; data: unknown } | ErrorBody;
export const ok = (data: unknown): RouteResult => ({ status: 200, data });

/** 400 `global/invalid-parameters` naming the first problem a request schema (./requests.ts) found. */
export function invalid(e: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): ErrorBody {
  const first = e.issues[0];
  return errors.invalidParameters(first ? `Invalid ${first.path.length > 0 ? first.path.map(String).join(".") : "request body"}: ${first.message}` : undefined);
}

export const errors = {
  invalidKey: (): ErrorBody => ({ status: 401, code: "global/invalid-api-key", message: "API key was invalid, expired, or deleted.", suggestion: "Check your API key or create a new one, then try again." }),
  accountInactive: (): ErrorBody => ({ status: 403, code: "global/account-inactive", message: "Your account is inactive.", suggestion: "Make sure you have verified your email address and have a valid payment method. Contact Support if problems continue." }),
  invalidParameters: (message = "Invalid request data."): ErrorBody => ({ status: 400, code: "global/invalid-parameters", message }),
  insufficientCapacity: (): ErrorBody => ({ status: 400, code: "instance-operations/launch/insufficient-capacity", message: "Not enough capacity to fulfill launch request." }),
  quotaExceeded: (): ErrorBody => ({ status: 400, code: "global/quota-exceeded", message: "Quota exceeded.", suggestion: "Contact Support to increase your quota." }),
  launchResourceMissing: (what: string): ErrorBody => ({ status: 404, code: "global/object-does-not-exist", message: `Specified ${what} does not exist.`, suggestion: `Check the ${what} name and try again.` }),
  fileSystemWrongRegion: (): ErrorBody => ({ status: 400, code: "instance-operations/launch/file-system-in-wrong-region", message: "File system is in a different region from the instance." }),
  instanceNotFound: (): ErrorBody => ({ status: 404, code: "global/object-does-not-exist", message: "Specified instance does not exist." }),
  firewallRulesetNotFound: (): ErrorBody => ({ status: 404, code: "global/object-does-not-exist", message: "Firewall ruleset does not exist or you do not have permission to access it.", suggestion: "Check your firewall ruleset ID and try again." }),
  firewallRulesetInUse: (): ErrorBody => ({ status: 400, code: "firewall-rulesets/firewall-ruleset-in-use", message: "Firewall ruleset is in use by one or more instances.", suggestion: "Terminate all instances that are using the ruleset before deleting it." }),
  // Paths and methods outside the spec: not Lambda's answers (it has none documented), only plain HTTP.
  noSuchPath: (): ErrorBody => ({ status: 404, code: "global/object-does-not-exist", message: "The emulator does not implement this path." }),
  methodNotAllowed: (method: string, allowed: readonly string[]): ErrorBody => ({ status: 405, code: "global/invalid-parameters", message: `Method ${method} is not allowed here.`, suggestion: `Use ${allowed.join(" or ")}.`, headers: { allow: allowed.join(", ") } }),
  fileSystemNotFound: (): ErrorBody => ({ status: 404, code: "global/object-does-not-exist", message: "Filesystem was not found." }),
  fileSystemInUse: (): ErrorBody => ({ status: 400, code: "filesystems/filesystem-in-use", message: "Filesystem is in use by one or more instances." }),
  duplicate: (): ErrorBody => ({ status: 400, code: "global/duplicate", message: "A filesystem with that name already exists." }),
  unavailable: (status = 503): ErrorBody => ({ status, code: "provider/internal-unavailable", message: "Provider unavailable", suggestion: "Try again shortly" }),
  // 429 bodies are unconfirmed for the real API (providers.md §1.4); clients must use the status only.
  rateLimited: (): ErrorBody => ({ status: 429, code: "global/rate-limited", message: "Too many requests.", suggestion: "Wait and try again." }),
};

export function errorJson(e: ErrorBody) {
  return { error: { code: e.code, message: e.message, ...(e.suggestion !== undefined && { suggestion: e.suggestion }) } };
}

export function instanceTypeJson(t: EmulatorInstanceType) {
  return { name: t.name, description: t.description, gpu_description: t.gpu_description, price_cents_per_hour: t.price_cents_per_hour, specs: { ...t.specs } };
}

function actionsJson(status: string) {
  const launched = status !== "booting";
  const gone = status === "terminating" || status === "terminated";
  const blocked = (available: boolean) =>
    available ? { available } : { available, reason_code: gone ? "vm-is-terminating" : "vm-has-not-launched", reason_description: gone ? "The instance is terminating." : "The instance has not launched yet." };
  return {
    migrate: blocked(false),
    rebuild: blocked(launched && !gone),
    restart: blocked(launched && !gone),
    cold_reboot: blocked(launched && !gone),
    terminate: blocked(!gone),
  };
}

export function instanceJson(account: LambdaAccount, i: EmulatedInstance) {
  const status = account.statusOf(i);
  const mounts = i.fileSystemNames
    .map((n) => account.fileSystems.find((f) => f.name === n))
    .filter((f): f is FileSystemRecord => f !== undefined)
    .map((f) => ({ mount_point: `/lambda/nfs/${f.name}`, file_system_id: f.id }));
  const addressed = status !== "booting" && status !== "terminated" && i.endpoint !== undefined;
  return {
    id: i.id,
    ...(i.name !== undefined && { name: i.name }),
    ...(addressed && { ip: i.endpoint?.ip, private_ip: "10.0.2.100" }),
    status,
    ssh_key_names: [...i.sshKeyNames],
    file_system_names: [...i.fileSystemNames],
    ...(mounts.length > 0 && { file_system_mounts: mounts }),
    region: account.regionJson(i.region),
    instance_type: instanceTypeJson(i.type),
    ...(i.hostname !== undefined && { hostname: i.hostname }),
    actions: actionsJson(status),
    ...(i.tags.length > 0 && { tags: i.tags.map((t) => ({ ...t })) }),
    ...(i.firewallRulesetIds.length > 0 && { firewall_rulesets: i.firewallRulesetIds.map((id) => ({ id })) }),
  };
}

export function fileSystemJson(account: LambdaAccount, f: FileSystemRecord) {
  return {
    id: f.id,
    name: f.name,
    mount_point: `/lambda/nfs/${f.name}`,
    created: f.created,
    created_by: { ...account.user },
    is_in_use: account.fileSystemInUse(f),
    region: account.regionJson(f.region),
    bytes_used: 0,
  };
}

const IMAGE_TIME = "2025-01-01T00:00:00Z";
export function imagesJson(account: LambdaAccount, regions: readonly string[]) {
  // Lambda lists each image once per region.
  return regions.map((r, n) => ({
    id: `43336648-096d-4cba-9aa2-${String(n).padStart(12, "0")}`,
    created_time: IMAGE_TIME,
    updated_time: IMAGE_TIME,
    name: "lambda-stack-24-04",
    description: "Lambda Stack 24.04",
    family: "lambda-stack-24-04",
    version: "24.04.1",
    architecture: "x86_64",
    region: account.regionJson(r),
  }));
}

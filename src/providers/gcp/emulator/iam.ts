/**
 * The emulated Cloud Resource Manager v1 `projects.testIamPermissions` (`POST /v1/projects/{project}:
 * testIamPermissions`, body `{permissions: [...]}`), what `kiln check` asks (../permissions.ts). It answers
 * the asked permissions the emulator's principal holds (all by default; `setPermissions` narrows them),
 * leaving `permissions` out when none is held, as proto3 JSON does. Another project is a 403.
 */
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import { googleError } from "./render.js";

export const IAM_ROUTE = /^\/v1\/projects\/([^/:]+):testIamPermissions$/;

export function testIamPermissions(project: string, granted: ReadonlySet<string> | "all", r: EmuRequest): EmuReply {
  const m = IAM_ROUTE.exec(r.path)!;
  if (r.method !== "POST") return { status: 405, body: googleError(405, "INVALID_ARGUMENT", "badRequest", `${r.method} is not allowed here`) };
  if (m[1] !== project) return { status: 403, body: googleError(403, "PERMISSION_DENIED", "forbidden", `The caller does not have permission on projects/${m[1]}`) };
  const asked = (r.body as { permissions?: unknown } | undefined)?.permissions;
  if (!Array.isArray(asked) || asked.some((p) => typeof p !== "string")) return { status: 400, body: googleError(400, "INVALID_ARGUMENT", "invalid", "Invalid JSON payload: permissions must be a list of strings") };
  const held = (asked as string[]).filter((p) => granted === "all" || granted.has(p));
  return { status: 200, body: held.length > 0 ? { permissions: held } : {} };
}

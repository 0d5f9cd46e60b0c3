/**
 * The emulator's ARM routes. Paths are matched case-insensitively (ARM is: @azure/arm-resources sends
 * `resourcegroups`, @azure/arm-compute `resourceGroups`). Each route names its Swagger operationId (or,
 * for what the Compute Swagger does not cover, an id in the same style), which fault rules match on
 * (`match.path: "VirtualMachines_*"`), and the RBAC action it needs.
 */
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import type { AzureAccount } from "./account.js";
import { cloudError } from "./render.js";

export interface Route {
  method: string;
  pattern: RegExp;
  op: string;
  /** The RBAC action the route needs (checked against the account's permissions). */
  action?: string;
  handle(m: string[], r: EmuRequest, ctx: RouteContext): Promise<EmuReply> | EmuReply;
}

export interface RouteContext {
  account: AzureAccount;
  url: string;
  sub: string;
}

const SUB = "/subscriptions/([^/]+)";
const RG = `${SUB}/resourcegroups/([^/]+)`;
export const VM_PATH = `${RG}/providers/microsoft\\.compute/virtualmachines/([^/]+)`;
const re = (p: string) => new RegExp(`^${p}$`, "i");

export function route(method: string, path: string, op: string, action: string | undefined, handle: Route["handle"]): Route {
  return { method, pattern: re(path), op, ...(action && { action }), handle };
}

export const PATHS = { SUB, RG, VM: VM_PATH };

export const notFound = (what: string): EmuReply => ({ status: 404, body: cloudError("ResourceNotFound", `The Resource '${what}' was not found.`) });
export const groupNotFound = (g: string): EmuReply => ({ status: 404, body: cloudError("ResourceGroupNotFound", `Resource group '${g}' could not be found.`) });

/**
 * Request bodies and query parameters as spec 1.8.3 defines them, so the emulator rejects exactly
 * what the spec calls invalid (400 `global/invalid-parameters`) and accepts everything it allows.
 * Unknown properties pass, as the spec's schemas allow them (none says `additionalProperties: false`).
 *
 * Lengths count code points, as JSON Schema's `maxLength` does (zod's `.max()` counts UTF-16 units,
 * which would reject a 64-character name that holds an emoji).
 */
import { z } from "zod";
import { REGION_DESCRIPTIONS } from "./config.js";

const codePoints = (s: string) => [...s].length;
const text = (max: number, min = 0) => z.string().refine((s) => codePoints(s) >= min && codePoints(s) <= max, `between ${min} and ${max} characters`);

/** PublicRegionCode: the only regions a request may name. The message is the real API's ("Region us-invalid-1 does not exist"). */
export const regionCode = z.enum(Object.keys(REGION_DESCRIPTIONS) as [string, ...string[]], { error: (issue) => `Region ${String(issue.input)} does not exist` });

const port = z.number().int().min(1).max(65535);
/** FirewallRule. `source_network` is Lambda's own `ipv4network` format, which clients do not generate from; left as a string. */
export const firewallRule = z.object({
  protocol: z.enum(["tcp", "udp", "icmp", "all"]),
  port_range: z.tuple([port, port]).optional(),
  source_network: z.string(),
  description: text(128),
});
export type FirewallRule = z.infer<typeof firewallRule>;

const tag = z.object({ key: text(55).pipe(z.string().regex(/^[a-z][a-z0-9-:]+$/)), value: text(128) });
export type Tag = z.infer<typeof tag>;

export const launchBody = z.object({
  region_name: regionCode,
  instance_type_name: z.string(),
  ssh_key_names: z.array(z.string()),
  file_system_names: z.array(z.string()).optional(),
  file_system_mounts: z.array(z.object({ mount_point: text(256).pipe(z.string().regex(/^(\/home|\/lambda\/nfs|\/data)[//a-zA-Z0-9-]*$/)), file_system_id: z.string() })).optional(),
  hostname: text(63, 1).pipe(z.string().regex(/^[a-z0-9][0-9a-z-]{0,62}$/)).optional(),
  name: text(64).optional(),
  image: z.union([z.object({ id: z.string() }), z.object({ family: z.string() })]).optional(),
  user_data: z.string().optional(),
  tags: z.array(tag).optional(),
  firewall_rulesets: z.array(z.object({ id: z.string() })).optional(),
  // Not in the spec any more; the real API still answers `quantity > 1` with "Requested too many instances."
  quantity: z.number().int().optional(),
});
export const idsBody = z.object({ instance_ids: z.array(z.string()) });
export const renameBody = z.object({ name: text(64).optional() });
export const sshKeyBody = z.object({ name: text(64, 1), public_key: text(4096, 1).optional() });
export const fileSystemBody = z.object({ name: text(60, 1).pipe(z.string().regex(/^[a-zA-Z]+[0-9a-zA-Z-]*$/)), region: regionCode });
export const firewallRulesBody = z.object({ data: z.array(firewallRule) });
export const rulesetCreateBody = z.object({ name: text(64), region: regionCode, rules: z.array(firewallRule) });
export const rulesetPatchBody = z.object({ name: text(64).optional(), rules: z.array(firewallRule).optional() });
export const globalRulesetPatchBody = z.object({ rules: z.array(firewallRule).optional() });

/** RFC 3339 date-time, the spec's `format: date-time` (leap second included). */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Milliseconds since the epoch for an RFC 3339 date-time, or undefined when it is not one. */
export function parseDateTime(s: string): number | undefined {
  const m = DATE_TIME.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, sec, frac = "", zone = "Z"] = m;
  const [month, day, hour, minute, second] = [mo, d, h, mi, sec].map(Number) as [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(Number(y), month, 0)).getUTCDate()) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  if (zone.length === 6 && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59)) return undefined;
  // A leap second (:60) is a valid date-time that Date cannot hold: it counts as the second before.
  const t = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${second === 60 ? "59" : sec}${frac.slice(0, 4)}${zone.toUpperCase()}`);
  return Number.isNaN(t) ? undefined : t;
}

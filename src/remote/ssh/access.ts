/**
 * How to reach a job's machine over SSH, saved as `<jobDir>/machine-ssh.json` by whoever brings the
 * machine up (the lifecycle, the ssh provider) and read by `kiln ssh JOB` and `kiln pull JOB`.
 *
 * It holds a path to the private key, never the key itself, and it is replaced atomically: a reader
 * sees the old machine or the new one, never half of each.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { UserError } from "../../base/errors.js";

export const MACHINE_ACCESS_FILE = "machine-ssh.json";

export const MachineAccessSchema = z.strictObject({
  v: z.literal(1),
  /** The `Host` name in Kiln's ssh config, `kiln-<job>`. */
  hostAlias: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  user: z.string().min(1),
  keyPath: z.string().min(1),
  /** Pin alias in Kiln's known_hosts (provider machine id, or `[host]:port`). */
  hostKeyAlias: z.string().min(1),
  /** Where the job's artifacts are on the machine (relative to the remote home unless absolute). */
  artifactsDir: z.string().min(1).optional(),
});
export type MachineAccess = z.infer<typeof MachineAccessSchema>;

export function saveMachineAccess(jobDir: string, access: MachineAccess): string {
  const p = join(jobDir, MACHINE_ACCESS_FILE);
  const parsed = MachineAccessSchema.parse(access);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(parsed, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${p}.tmp`, p);
  return p;
}

/** The saved access, or a UserError saying the job never had a reachable machine. */
export function loadMachineAccess(jobDir: string, jobName: string): MachineAccess {
  const p = join(jobDir, MACHINE_ACCESS_FILE);
  let raw: string;
  try {
    raw = readFileSync(p, "utf8");
  } catch {
    throw new UserError(`job ${jobName} has no SSH machine (it ran locally, or its machine was never reachable)`, {
      hint: "run `kiln status` to see where the job ran",
    });
  }
  const parsed = MachineAccessSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new UserError(`${p} is damaged: ${parsed.error.message}`, { hint: "delete it; it is rewritten when the job's machine comes up" });
  return parsed.data;
}

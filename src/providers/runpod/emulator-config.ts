/** `kiln emulate runpod --config FILE`: the emulator's settings from a JSON or YAML file, checked field by field. */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { UserError, errorMessage } from "../../base/errors.js";

const faultSchema = z.strictObject({
  kind: z.string(),
  match: z.strictObject({ method: z.string().optional(), path: z.string().optional() }).optional(),
  probability: z.number().min(0).max(1).optional(),
  times: z.number().int().min(1).optional(),
  delayMs: z.number().int().min(0).optional(),
  requests: z.number().int().min(0).optional(),
  status: z.number().int().min(500).max(599).optional(),
});

export const runpodEmulatorConfigSchema = z.strictObject({
  apiKey: z.string().min(1).optional(),
  bootDelayMs: z.number().int().min(0).optional(),
  seed: z.number().int().optional(),
  faults: z.array(faultSchema).optional(),
  rateLimit: z.strictObject({ perMinute: z.number().int().min(1) }).optional(),
  /** Back each pod with a real loopback sshd (default true). */
  sshd: z.boolean().optional(),
});
export type RunpodEmulatorConfig = z.infer<typeof runpodEmulatorConfigSchema>;

export async function readRunpodEmulatorConfig(path: string): Promise<RunpodEmulatorConfig> {
  const { parse: parseYaml } = await import("yaml");
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8")) as unknown;
  } catch (e) {
    throw new UserError(`cannot read emulator config ${path}: ${errorMessage(e)}`, { exitCode: 2, cause: e });
  }
  const r = runpodEmulatorConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `  ${i.path.join(".") || "(top)"}: ${i.message}`).join("\n");
    throw new UserError(`emulator config ${path} is invalid:\n${problems}`, { exitCode: 2, hint: "fields: apiKey, bootDelayMs, seed, faults, rateLimit, sshd" });
  }
  return r.data;
}

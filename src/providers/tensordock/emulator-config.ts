/** `kiln emulate tensordock --config FILE`: the emulator's settings from a JSON or YAML file, checked field by field. */
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

export const tensordockEmulatorConfigSchema = z.strictObject({
  apiToken: z.string().min(1).optional(),
  bootDelayMs: z.number().int().min(0).optional(),
  deleteDelayMs: z.number().int().min(0).optional(),
  balance: z.number().optional(),
  seed: z.number().int().optional(),
  faults: z.array(faultSchema).optional(),
  rateLimit: z.strictObject({ perMinute: z.number().int().min(1) }).optional(),
  /** Back each instance with a real loopback sshd (default true). */
  sshd: z.boolean().optional(),
});
export type TensordockEmulatorConfig = z.infer<typeof tensordockEmulatorConfigSchema>;

export async function readTensordockEmulatorConfig(path: string): Promise<TensordockEmulatorConfig> {
  const { parse: parseYaml } = await import("yaml");
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8")) as unknown;
  } catch (e) {
    throw new UserError(`cannot read emulator config ${path}: ${errorMessage(e)}`, { exitCode: 2, cause: e });
  }
  const r = tensordockEmulatorConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `  ${i.path.join(".") || "(top)"}: ${i.message}`).join("\n");
    throw new UserError(`emulator config ${path} is invalid:\n${problems}`, { exitCode: 2, hint: "fields: apiToken, bootDelayMs, deleteDelayMs, balance, seed, faults, rateLimit, sshd" });
  }
  return r.data;
}

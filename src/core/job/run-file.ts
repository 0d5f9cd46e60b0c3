/**
 * run.json: the supervisor's whole input, written by `kiln run` and re-read on every (re)start. It is
 * our own file but crosses a process boundary (and may be hand-edited), so it is parsed with a schema.
 * Secrets never go in it: the webhook is referenced by the *name* of its env var.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { z } from "zod";
import { KilnError } from "../../base/errors.js";
import { PROVIDER_NAMES } from "../spec/provider-names.js";

export const StepSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9-]+$/),
  argv: z.array(z.string()).min(1),
  cwd: z.string(),
  env: z.record(z.string(), z.string()).default({}),
  /** metrics.jsonl this step writes, if it speaks the protocol. */
  metrics: z.string().optional(),
  /** Output dir whose relative artifact paths resolve against. */
  outputDir: z.string().optional(),
});
export type Step = z.infer<typeof StepSchema>;

export const RunFileSchema = z.strictObject({
  version: z.literal(1),
  jobId: z.string(),
  jobName: z.string(),
  kind: z.string(),
  ledgerPath: z.string(),
  jobDir: z.string(),
  /** Where the steps ran: "local" for the supervisor's own runs; a remote job's report names its provider. */
  provider: z.enum(PROVIDER_NAMES),
  pricePerHour: z.number().min(0),
  machine: z.strictObject({ gpu: z.string(), gpuCount: z.number().int(), vramGb: z.number() }),
  planReason: z.string(),
  steps: z.array(StepSchema).min(1),
  budget: z.strictObject({ maxUsd: z.number().optional(), maxHours: z.number().optional(), alertFractions: z.array(z.number()) }),
  alerts: z.strictObject({ webhookEnv: z.string().optional(), on: z.array(z.string()) }),
  monitor: z.strictObject({ tickMs: z.number().int().positive(), stallMs: z.number().int().positive(), plateauWindow: z.number().int(), plateauMinImprovement: z.number() }),
  stopGraceMs: z.number().int().positive(),
});
export type RunFile = z.infer<typeof RunFileSchema>;

export function writeRunFile(path: string, run: RunFile): void {
  // Write-then-rename, so a crash never leaves a half-written run.json for the next resume.
  writeFileSync(`${path}.tmp`, `${JSON.stringify(run, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

export function readRunFile(path: string): RunFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new KilnError("run_file", `cannot read ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const r = RunFileSchema.safeParse(json);
  if (!r.success) throw new KilnError("run_file", `${path} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

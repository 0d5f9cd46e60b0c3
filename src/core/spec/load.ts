/**
 * Reading a job spec: YAML text → plain data → the zod schema, with every problem (YAML syntax, wrong
 * types, unknown keys, cross-field rules) collected into one {@link UserError} (exit code 2) so the
 * user fixes the file in one go.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { UserError } from "../../base/errors.js";
import { formatIssues, specErrorMap } from "./issues.js";
import { type JobSpec, jobSpecSchema } from "./job-spec.js";

/**
 * Load and validate a job spec file.
 *
 * @example
 *   const spec = await loadJobSpec("examples/llama-8b-sae-pii.yaml");
 *   spec.budget.max_usd; // 20
 */
export async function loadJobSpec(path: string): Promise<JobSpec> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === "ENOENT" ? `job spec not found: ${path}` : `cannot read job spec ${path}: ${(e as Error).message}`, {
      exitCode: 2,
      hint: "pass the path of a job YAML, e.g. `kiln plan examples/sae-pii-local.yaml`",
      cause: e,
    });
  }
  return parseJobSpec(text, path);
}

/** Validate job spec text; `source` names the file in messages. */
export function parseJobSpec(text: string, source: string): JobSpec {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
      // prettyErrors adds " at line L, column C:" and a code excerpt; we print the position our way.
      return `${where}: ${(e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "")}`;
    });
    throw invalid(source, lines, "YAML syntax");
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) throw invalid(source, ["the file is empty; expected a mapping with name, budget and workload"]);
  const result = jobSpecSchema.safeParse(data, { error: specErrorMap });
  if (result.success) return result.data;
  throw invalid(source, formatIssues(result.error.issues, data, (p) => keysAt(p, data)));
}

function invalid(source: string, lines: string[], kind = "invalid"): UserError {
  const noun = lines.length === 1 ? "problem" : "problems";
  return new UserError(`${source}: ${kind === "invalid" ? "" : `${kind}: `}${lines.length} ${noun}\n${lines.map((l) => `  - ${l}`).join("\n")}`, {
    exitCode: 2,
    hint: "see docs/job-spec.md for every key, or run `kiln schema` for editor completion",
  });
}

// Schema introspection for did-you-mean. Reads zod's internal definitions (stable in zod 4's `_zod.def`)
// of our own schema, not external data, so the loose typing stays contained here.
type Def = { type: string; shape?: Record<string, z.core.$ZodType>; innerType?: z.core.$ZodType; in?: z.core.$ZodType; options?: z.core.$ZodType[]; element?: z.core.$ZodType; valueType?: z.core.$ZodType };
const defOf = (s: z.core.$ZodType): Def => s._zod.def as unknown as Def;

function unwrap(s: z.core.$ZodType, input: unknown): z.core.$ZodType {
  for (;;) {
    const d = defOf(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else if (d.type === "union" && d.options) {
      const type = input !== null && typeof input === "object" ? (input as Record<string, unknown>)["type"] : undefined;
      const match = d.options.find((o) => {
        const t = defOf(o).shape?.["type"];
        return t !== undefined && (t._zod.def as unknown as { values?: unknown[] }).values?.includes(type);
      });
      if (!match) return s;
      s = match;
    } else return s;
  }
}

function keysAt(path: readonly PropertyKey[], input: unknown): string[] {
  let s: z.core.$ZodType = jobSpecSchema;
  let v: unknown = input;
  for (const p of path) {
    s = unwrap(s, v);
    const d = defOf(s);
    const next = d.shape?.[String(p)] ?? d.element ?? d.valueType;
    if (!next) return [];
    s = next;
    v = v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  }
  return Object.keys(defOf(unwrap(s, v)).shape ?? {});
}

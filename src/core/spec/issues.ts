/**
 * Turning zod issues into the lines a user reads: `path: what was expected, got <value>`. Zod's own
 * messages ("Invalid input: expected number, received string") say neither where nor what the file
 * actually contained; ours name the key path and quote the offending value, so one run of
 * `kiln plan` lists every mistake in the file at once.
 */
import type { z } from "zod";

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

const NOUN: Record<string, string> = {
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(v));

/**
 * The per-parse error map: messages for issues whose schema did not set its own. Passed as
 * `safeParse(data, { error: specErrorMap })`; schema-level messages take precedence over it.
 */
export function specErrorMap(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return "is required";
      return `expected ${NOUN[iss.expected] ?? iss.expected}`;
    case "too_small": {
      const min = show(iss.minimum);
      if (iss.origin === "array" || iss.origin === "set") return `expected at least ${min} item${iss.minimum === 1 ? "" : "s"}`;
      if (iss.origin === "string") return iss.minimum === 1 ? "expected a non-empty string" : `expected at least ${min} characters`;
      return `expected a number ${iss.inclusive ? "≥" : ">"} ${min}`;
    }
    case "too_big": {
      const max = show(iss.maximum);
      if (iss.origin === "array" || iss.origin === "set") return `expected at most ${max} items`;
      if (iss.origin === "string") return `expected at most ${max} characters`;
      return `expected a number ${iss.inclusive ? "≤" : "<"} ${max}`;
    }
    case "invalid_value":
      return iss.values.length === 1 ? `expected ${show(iss.values[0])}` : `expected one of ${iss.values.map(show).join(", ")}`;
    case "invalid_format":
      return `expected ${iss.format}`;
    default:
      return undefined;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out === "" ? "(top level)" : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** A short rendering of a value from the file: strings quoted, long things cut. */
export function describeValue(v: unknown): string {
  let s: string;
  if (v === null) s = "null";
  else if (Array.isArray(v)) s = `[${v.map((x) => (typeof x === "object" && x !== null ? "…" : show(x))).join(", ")}]`;
  else if (typeof v === "object") s = "a mapping";
  else s = show(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The closest known key, if it is close enough to be a likely typo. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/**
 * One line per problem. `knownKeys(path)` lists the keys allowed at a path, for did-you-mean hints on
 * unknown keys.
 */
export function formatIssues(issues: readonly Issue[], input: unknown, knownKeys: (path: readonly PropertyKey[]) => readonly string[] = () => []): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys) {
        const near = didYouMean(key, knownKeys(iss.path));
        const at = formatPath([...iss.path, key]);
        lines.push(`${at}: unknown key${near ? ` (did you mean "${near}"?)` : ""}`);
      }
      continue;
    }
    const value = valueAt(input, iss.path);
    // Cross-field rules (custom issues) are about the combination, not one value, so they quote nothing
    // unless they opt in; the webhook check in particular must never echo a URL that may be a secret.
    const quiet = iss.code === "custom" && iss.params?.["showValue"] !== true;
    const got = value === undefined || quiet ? "" : `, got ${describeValue(value)}`;
    lines.push(`${formatPath(iss.path)}: ${iss.message}${got}`);
  }
  return lines;
}

/**
 * The line engine: every route (plain text, UTF-16, binary string runs, decoded base64, joined string
 * literals, notebook cells, archive members) ends here with some text, and gets back hits positioned by
 * line and column in that text. The route maps the position back to the file.
 */
import { DOTENV_ASSIGNMENT, highEntropyValue, LINE_RULES, type LineRule } from "./rules.js";

/** A line carrying this marker is skipped: the escape hatch for test fixtures and docs. */
export const ALLOW_PRAGMA = "kiln:allow-secret";

/** The first few characters and the length, e.g. `hf_a****… (37 chars)`. Never the secret itself. */
export function maskSecret(secret: string): string {
  const shown = secret.length > 12 ? secret.slice(0, 4) : secret.slice(0, 2);
  return `${shown}****… (${secret.length} chars)`;
}

export interface Hit {
  /** 1-based line in the scanned text; 0 for a finding about the text as a whole. */
  line: number;
  /** 0-based column of the match in that line. */
  column: number;
  rule: string;
  preview: string;
}

export interface LineScanOptions {
  /** Apply the dotenv rule (any `NAME=value` is a finding): the file is a `.env`. */
  dotenv?: boolean;
  /** Only run the rules with these ids (a route that only makes sense for some rules). */
  only?: readonly string[];
  /** Skip the rules with these ids (a route where they would fire on noise). */
  except?: readonly string[];
}

/**
 * The rule that knows no key format, only a secret-looking name next to a random-looking value. Routes
 * that glue unrelated strings together (a binary's string table, shell words) leave it out.
 */
export const GENERIC_RULES: readonly string[] = ["high-entropy-assignment"];

/** Matches wherever any rule's quick test does (case-insensitively: a superset): worth a closer look. */
export const ANY_RULE_QUICK = new RegExp(LINE_RULES.map((r) => r.quick.source).join("|"), "i");

// Global copies, so one line can hold several candidates and a look-alike doesn't hide a real key after it.
const GLOBAL_RULES: ReadonlyArray<LineRule & { re: RegExp }> = LINE_RULES.map((r) => ({ ...r, re: new RegExp(r.pattern.source, `${r.pattern.flags}g`) }));

/** Run the line rules (and the whole-text service-account rule) over `text`. */
export function scanLines(text: string, opts: LineScanOptions = {}): Hit[] {
  const hits: Hit[] = [];
  const rules = GLOBAL_RULES.filter((r) => (!opts.only || opts.only.includes(r.id)) && !opts.except?.includes(r.id) && r.quick.test(text));
  if (rules.length === 0 && !opts.dotenv && !text.includes("service_account")) return hits;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.includes(ALLOW_PRAGMA)) return;
    const seen = new Set<string>();
    for (const rule of rules) {
      if (seen.has(rule.id) || !rule.quick.test(line)) continue;
      rule.re.lastIndex = 0;
      for (const m of line.matchAll(rule.re)) {
        const secret = rule.id === "high-entropy-assignment" ? highEntropyValue(m) : m[rule.group ?? 0];
        if (secret === undefined || (rule.accept && !rule.accept(secret, line, lines[i + 1] ?? ""))) continue;
        // A line already flagged by a specific rule needn't also be flagged as "high entropy".
        if (rule.id === "high-entropy-assignment" && seen.size > 0) break;
        hits.push({ line: i + 1, column: m.index, rule: rule.id, preview: rule.preview ? rule.preview(secret) : maskSecret(secret) });
        seen.add(rule.id);
        break;
      }
    }
    if (opts.dotenv && seen.size === 0) {
      const m = DOTENV_ASSIGNMENT.exec(line);
      const value = m?.[2]?.replace(/^["']|["']$/g, "").trim();
      if (m && value && !line.trimStart().startsWith("#")) {
        hits.push({ line: i + 1, column: 0, rule: "dotenv-file", preview: `${m[1]}=${maskSecret(value)}` });
      }
    }
  });
  if (!opts.only) hits.push(...scanServiceAccount(lines));
  return hits;
}

// GCP service-account key files: JSON with "type": "service_account" and a "private_key" holding a PEM.
function scanServiceAccount(lines: string[]): Hit[] {
  if (!lines.some((l) => /"type"\s*:\s*"service_account"/.test(l))) return [];
  const i = lines.findIndex((l) => /"private_key"\s*:\s*"-----BEGIN/.test(l) && !l.includes(ALLOW_PRAGMA));
  if (i < 0) return [];
  return [{ line: i + 1, column: 0, rule: "gcp-service-account", preview: "private_key of a service account ****…" }];
}

/**
 * The secret scanner: run on every file before a bundle is written, so a credential never leaves the
 * user's machine inside a tarball. Findings carry a masked preview only; the secret itself is never
 * stored in a finding, an error or a log line.
 *
 * @example
 *   const findings = scanText("train.py", source);
 *   if (findings.length > 0) throw new SecretsFoundError(findings);
 */
import { UserError } from "../../base/errors.js";
import { DOTENV_ASSIGNMENT, highEntropyValue, isDotenvFile, LINE_RULES, NAME_RULES } from "./rules.js";

export interface SecretFinding {
  /** Path as the user knows it (relative to the bundle root). */
  file: string;
  /** 1-based; 0 for findings about the file as a whole (its name). */
  line: number;
  rule: string;
  /** The first few characters and the length, e.g. `hf_a****… (37 chars)`. */
  preview: string;
}

/** A line carrying this marker is skipped: the escape hatch for test fixtures and docs. */
export const ALLOW_PRAGMA = "kiln:allow-secret";

export function maskSecret(secret: string): string {
  const shown = secret.length > 12 ? secret.slice(0, 4) : secret.slice(0, 2);
  return `${shown}****… (${secret.length} chars)`;
}

// Global copies, so one line can hold several candidates and a look-alike doesn't hide a real key after it.
const GLOBAL_RULES = LINE_RULES.map((r) => ({ ...r, re: new RegExp(r.pattern.source, `${r.pattern.flags}g`) }));

/** Scan one text file's contents. `file` is only used to label findings and pick name-based rules. */
export function scanText(file: string, text: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const lines = text.split(/\r?\n/);
  const dotenv = isDotenvFile(file);
  const rules = GLOBAL_RULES.filter((r) => r.quick.test(text));
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
        findings.push({ file, line: i + 1, rule: rule.id, preview: rule.preview ? rule.preview(secret) : maskSecret(secret) });
        seen.add(rule.id);
        break;
      }
    }
    if (dotenv && seen.size === 0) {
      const m = DOTENV_ASSIGNMENT.exec(line);
      const value = m?.[2]?.replace(/^["']|["']$/g, "").trim();
      if (m && value && !line.trimStart().startsWith("#")) {
        findings.push({ file, line: i + 1, rule: "dotenv-file", preview: `${m[1]}=${maskSecret(value)}` });
      }
    }
  });
  findings.push(...scanServiceAccount(file, lines));
  return findings;
}

// GCP service-account key files: JSON with "type": "service_account" and a "private_key" holding a PEM.
function scanServiceAccount(file: string, lines: string[]): SecretFinding[] {
  if (!lines.some((l) => /"type"\s*:\s*"service_account"/.test(l))) return [];
  const i = lines.findIndex((l) => /"private_key"\s*:\s*"-----BEGIN/.test(l) && !l.includes(ALLOW_PRAGMA));
  if (i < 0) return [];
  return [{ file, line: i + 1, rule: "gcp-service-account", preview: "private_key of a service account ****…" }];
}

/** Findings that follow from the file's name alone (SSH keys, keystores); apply to binary files too. */
export function scanName(file: string): SecretFinding[] {
  return NAME_RULES.filter((r) => r.matches(file)).map((r) => ({ file, line: 0, rule: r.id, preview: "(file name)" }));
}

/** NUL bytes in the first 8 KiB: the same heuristic git uses to call a file binary. */
export function isBinary(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, 8192);
  for (let i = 0; i < n; i++) if (buf[i] === 0) return true;
  return false;
}

/** Scan a file's bytes: name rules always, content rules when it is text. */
export function scanBuffer(file: string, buf: Uint8Array): SecretFinding[] {
  const byName = scanName(file);
  if (isBinary(buf)) return byName;
  return [...byName, ...scanText(file, Buffer.from(buf).toString("utf8"))];
}

export const formatFinding = (f: SecretFinding): string =>
  `${f.line > 0 ? `${f.file}:${f.line}` : f.file}  ${f.rule}  (${f.preview})`;

/** The bundle refused to be written because files in it look like they hold credentials. */
export class SecretsFoundError extends UserError {
  override readonly name = "SecretsFoundError";
  readonly findings: readonly SecretFinding[];
  constructor(findings: readonly SecretFinding[]) {
    const files = [...new Set(findings.map((f) => f.file))];
    const lines = findings.map((f) => `  ${formatFinding(f)}`).join("\n");
    super(
      `refusing to upload: ${findings.length} possible secret${findings.length === 1 ? "" : "s"} in ${files.length} file${files.length === 1 ? "" : "s"} of the bundle:\n${lines}`,
      {
        hint:
          "Move secrets into environment variables, or add the file to .kilnignore. If a finding is a false " +
          `positive, allow-list its path in the job spec (bundle.allow_secrets: [${files.map((f) => JSON.stringify(f)).join(", ")}]) ` +
          `or append the comment "${ALLOW_PRAGMA}" to that line.`,
      },
    );
    this.findings = findings;
  }
}

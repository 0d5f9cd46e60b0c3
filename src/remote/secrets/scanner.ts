/**
 * The secret scanner: run on every file before a bundle is written, so a credential never leaves the
 * user's machine inside a tarball. Findings carry a masked preview only; the secret itself is never
 * stored in a finding, an error or a log line.
 *
 * @example
 *   const findings = scanBuffer("train.py", await readFile(path));
 *   if (findings.length > 0) throw new SecretsFoundError(findings);
 */
import { UserError } from "../../base/errors.js";
import { ALLOW_PRAGMA, maskSecret, scanLines } from "./lines.js";
import { isDotenvFile } from "./rules.js";
import { isBinary, nameFindings, type SecretFinding, scanFile } from "./routes.js";

export { ALLOW_PRAGMA, isBinary, maskSecret, scanFile };
export { DEFAULT_SCAN_LIMITS, type ScanLimits, type ScanReport, type ScanRoute, type SecretFinding, type Unscanned } from "./routes.js";

/**
 * Scan one text's contents with the line rules, as plain text (no decoding routes: {@link scanBuffer}
 * takes those). `file` labels the findings and picks the dotenv rule.
 */
export function scanText(file: string, text: string): SecretFinding[] {
  return scanLines(text, { dotenv: isDotenvFile(file) }).map((h) => ({ file, line: h.line, rule: h.rule, route: "plain", preview: h.preview }));
}

/** Findings that follow from the file's name alone (SSH keys, keystores); apply to binary files too. */
export function scanName(file: string): SecretFinding[] {
  return nameFindings(file);
}

/**
 * Scan a file's bytes by every route: its name, its text, and what binary content, UTF-16, base64,
 * joined string literals, notebooks and archives hide (see ./routes.ts). {@link scanFile} also says
 * which parts a limit left unscanned.
 */
export function scanBuffer(file: string, buf: Uint8Array): SecretFinding[] {
  return scanFile(file, buf).findings;
}

/** `file:line  rule  (preview)`, with the byte offset for binary content and the route when not plain. */
export function formatFinding(f: SecretFinding): string {
  const where = f.line > 0 ? `${f.file}:${f.line}` : f.offset !== undefined ? `${f.file} @ byte ${f.offset}` : f.file;
  const via = f.route === "plain" || f.route === "name" ? "" : `  via ${f.route}`;
  return `${where}  ${f.rule}  (${f.preview})${via}`;
}

/** The bundle refused to be written because files in it look like they hold credentials. */
export class SecretsFoundError extends UserError {
  override readonly name = "SecretsFoundError";
  readonly findings: readonly SecretFinding[];
  constructor(findings: readonly SecretFinding[]) {
    // An archive member can't be allow-listed on its own: the bundled archive holding it can.
    const files = [...new Set(findings.map((f) => f.archive ?? f.file))];
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

/**
 * The checklist as people and programs read it: an aligned table with one advice line under each
 * failure or warning, and a stable JSON document for `--json`.
 */
import type { CheckResult, CheckStatus } from "./types.js";

const MARK: Record<CheckStatus, string> = { pass: "ok", warn: "WARN", fail: "FAIL", skip: "skip" };

export function renderChecks(where: string, results: readonly CheckResult[]): string {
  const rows = results.map((r) => [MARK[r.status], r.title, r.measured, r.expected ?? ""] as const);
  const header = ["", "CHECK", "MEASURED", "NEED"] as const;
  const width = (i: 1 | 2) => Math.max(...rows.map((row) => row[i].length), header[i].length);
  // The status column is always 4 wide, so tables of different runs line up.
  const [w0, w1, w2] = [4, width(1), width(2)];
  const line = (cells: readonly string[]) => `${cells[0]!.padEnd(w0)}  ${cells[1]!.padEnd(w1)}  ${cells[2]!.padEnd(w2)}  ${cells[3]}`.trimEnd();
  const out = [`Verifying ${where}`, "", line(header)];
  results.forEach((r, i) => {
    out.push(line(rows[i]!));
    if (r.advice && (r.status === "fail" || r.status === "warn")) out.push(`${" ".repeat(w0 + 2)}→ ${r.advice}`);
  });
  const n = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  out.push("", `${n("pass")} passed, ${n("warn")} warning${n("warn") === 1 ? "" : "s"}, ${n("fail")} failed, ${n("skip")} skipped${n("fail") > 0 ? " — fix the failures before running" : ""}`);
  return `${out.join("\n")}\n`;
}

export interface ChecksDocument {
  machine: string;
  ok: boolean;
  checks: readonly CheckResult[];
}

export const checksDocument = (where: string, results: readonly CheckResult[]): ChecksDocument => ({
  machine: where,
  ok: results.every((r) => r.status !== "fail"),
  checks: results,
});

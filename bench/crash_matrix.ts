/**
 * The crash-injection matrix: every lifecycle point where the cloud driver can be SIGKILLed (each repeated
 * `KILN_CRASH_REPEAT` times, default 3), then `kiln status --refresh`; plus the recovery conditions of the
 * reliability issue (read-only commands, two installations on one account, four concurrent recovery
 * commands, outputs that cannot be saved, a machine taken away mid-run). Each case asserts, in its test:
 * 0 orphans at the emulator, every instance in the ledger and closed with its times, no attempt left
 * running, outputs verified where the run produced them.
 *
 *   npx vite-node bench/crash_matrix.ts
 *
 * Runs the e2e tests (test/e2e/crash-points.test.ts, test/e2e/recovery-safety.test.ts) with vitest's JSON
 * reporter and writes bench/results/crash_matrix.json: each case, its outcome and duration, the machine and
 * its load. Not in it yet: the client offline through a cap with a durable store (docs/lifecycle.md §7).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";

const ROOT = resolve(import.meta.dirname, "..");
const REPEAT = process.env["KILN_CRASH_REPEAT"] ?? "3";
const out = mkdtempSync(join(tmpdir(), "kiln-crash-matrix-"));
const report = join(out, "vitest.json");
const load0 = loadavg()[0]!;
const run = spawnSync("npx", ["--no-install", "vitest", "run", "test/e2e/crash-points.test.ts", "test/e2e/recovery-safety.test.ts", "--reporter=json", `--outputFile=${report}`], {
  cwd: ROOT,
  env: { ...process.env, KILN_CRASH_REPEAT: REPEAT },
  stdio: ["ignore", "ignore", "inherit"],
  timeout: 40 * 60_000,
});
const Report = z.object({
  numPassedTests: z.number(),
  numFailedTests: z.number(),
  numPendingTests: z.number(),
  testResults: z.array(z.object({ name: z.string(), assertionResults: z.array(z.object({ fullName: z.string(), status: z.string(), duration: z.number().nullish() })) })),
});
const r = Report.parse(JSON.parse(readFileSync(report, "utf8")));
rmSync(out, { recursive: true, force: true });
const cases = r.testResults.flatMap((f) => f.assertionResults.map((a) => ({ file: f.name.replace(`${ROOT}/`, ""), case: a.fullName, status: a.status, seconds: a.duration ? Math.round(a.duration / 100) / 10 : null })));
const result = {
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "?", memGb: Math.round(totalmem() / 2 ** 30), node: process.version, load1: { start: load0, end: loadavg()[0] } },
  crashRepeat: Number(REPEAT),
  passed: r.numPassedTests,
  failed: r.numFailedTests,
  skipped: r.numPendingTests,
  asserted: "0 orphans at the emulator; the ledger holds exactly the instances launched, each closed with launch and termination times; no attempt left running; a finished run recorded as finished; outputs verified where produced; read-only commands change nothing",
  notYet: ["client offline through a dollar/hour cap, with and without a durable store (needs the durable store, docs/lifecycle.md §7)"],
  cases,
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "crash_matrix.json"), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`crash matrix: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped (crash points x${REPEAT}); exit ${run.status}\n`);
process.exitCode = run.status ?? 1;

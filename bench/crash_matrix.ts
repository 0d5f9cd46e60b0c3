/**
 * The crash-injection matrix: every lifecycle point where the cloud driver can be SIGKILLed (each repeated
 * `KILN_CRASH_REPEAT` times, default 3), then `kiln status --refresh`; plus the recovery conditions of the
 * reliability issue (read-only commands, two installations on one account, four concurrent recovery
 * commands, outputs that cannot be saved, a machine taken away mid-run); managed recovery (a machine taken
 * three times, kill -9 after a reclaim, during the relaunch, the restore and a resume: test/e2e/chaos.test.ts);
 * and the client offline through a cap, with and without a durable store (moto's S3, GCS, a Lambda file system),
 * keep-data and stop-billing, the cap in hours and in dollars (test/e2e/offline-cap.test.ts,
 * test/e2e/offline-cap-lambda-fs.test.ts, src/core/watchdog/cap-offline.test.ts), and on Azure, where the VM deletes
 * itself through its managed identity (test/e2e/azure-offline-cap.test.ts). KILN_LONG_CAP=1 (set here)
 * adds the dollars cap through the real driver: the plan's smallest accepted budget binds after ~15 min.
 * Each case asserts, in its test: 0 orphans at the emulator, every instance in the ledger and closed with its
 * times, no attempt left running, outputs verified where the run produced them (here or in the store), and
 * spend ≤ cap + one polling interval where a cap is reached.
 *
 *   npx vite-node bench/crash_matrix.ts
 *
 * Runs those test files with vitest's JSON reporter and writes bench/results/crash_matrix.json: each case,
 * its outcome and duration, a summary per file, the machine and its load. A passed case had 0 orphans and 0
 * lost outputs (its assertions); a failed one may have had either.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";

const ROOT = resolve(import.meta.dirname, "..");
const FILES = [
  "test/e2e/crash-points.test.ts",
  "test/e2e/recovery-safety.test.ts",
  "test/e2e/chaos.test.ts",
  "test/e2e/offline-cap.test.ts",
  "test/e2e/offline-cap-lambda-fs.test.ts",
  "test/e2e/azure-offline-cap.test.ts",
  "src/core/watchdog/cap-offline.test.ts",
];
const REPEAT = process.env["KILN_CRASH_REPEAT"] ?? "3";
const out = mkdtempSync(join(tmpdir(), "kiln-crash-matrix-"));
const report = join(out, "vitest.json");
const load0 = loadavg()[0]!;
const run = spawnSync("npx", ["--no-install", "vitest", "run", ...FILES, "--reporter=json", `--outputFile=${report}`], {
  cwd: ROOT,
  env: { ...process.env, KILN_CRASH_REPEAT: REPEAT, KILN_LONG_CAP: "1" },
  stdio: ["ignore", "ignore", "inherit"],
  timeout: 50 * 60_000,
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
const files = FILES.map((file) => {
  const of = cases.filter((c) => c.file === file);
  const n = (status: string) => of.filter((c) => c.status === status).length;
  return { file, cases: of.length, passed: n("passed"), failed: n("failed"), skipped: n("skipped") + n("pending") + n("todo"), seconds: Math.round(of.reduce((s, c) => s + (c.seconds ?? 0), 0)) };
});
const result = {
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "?", memGb: Math.round(totalmem() / 2 ** 30), node: process.version, load1: { start: load0, end: loadavg()[0] } },
  crashRepeat: Number(REPEAT),
  longCap: true,
  passed: r.numPassedTests,
  failed: r.numFailedTests,
  skipped: r.numPendingTests,
  asserted: "0 orphans at the emulator; the ledger holds exactly the instances launched, each closed with launch and termination times; no attempt left running; a finished run recorded as finished; outputs verified where produced (here, or in the durable store); read-only commands change nothing; spend <= cap + one polling interval where the cap is reached with no client",
  files,
  cases,
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "crash_matrix.json"), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`crash matrix: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped (crash points x${REPEAT}); exit ${run.status}\n`);
process.exitCode = run.status ?? 1;

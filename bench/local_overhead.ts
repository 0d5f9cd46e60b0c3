/**
 * The overhead Kiln adds to a local run: time from `kiln run --detach JOB.yaml` (a fresh `node
 * dist/cli/main.js` process, the real build) to the workload's first metrics line, minus the time the
 * same workload takes on its own from spawn to its first line. Kiln's share is the CLI start, spec
 * validation, the GPU probe, the job dir + engine configs + ledger writes, and the detached supervisor's
 * start (Node + better-sqlite3 + ledger + spawning the step).
 *
 * The workload is test/fixtures/workloads/fake-python (stdlib Python speaking the metrics protocol), so
 * the difference is not drowned in torch's import time; both timings end at the first line's own `ts`,
 * written by the workload, so polling granularity does not enter.
 *
 *   npx vite-node bench/local_overhead.ts
 *
 * Writes bench/results/local_overhead.json with the machine's description.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const FAKE = join(ROOT, "test", "fixtures", "workloads", "fake-python");
const RUNS = 9;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (n: number) => Math.round(n * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (bounded) until `path` has a complete first line; return that line's `ts` in ms. */
async function firstLineTs(path: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) {
      const text = readFileSync(path, "utf8");
      const nl = text.indexOf("\n");
      if (nl > 0) return (JSON.parse(text.slice(0, nl)) as { ts: number }).ts * 1000;
    }
    await sleep(2);
  }
  throw new Error(`no metrics line in ${path} within ${timeoutMs} ms`);
}

async function waitFor(path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const build = spawnSync("npx", ["--no-install", "tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8" });
if (build.status !== 0) console.warn(`tsc reported errors (output still emitted):\n${build.stdout.split("\n").slice(0, 5).join("\n")}`);

// The real build (dist/) is what users run. If it cannot start (a module elsewhere in the CLI breaking
// at import time), fall back to esbuild bundles of the same sources and say so in the results.
let cliEntry = join(ROOT, "dist", "cli", "main.js");
let supervisorEntry: string | undefined;
let cliBuild = "dist (tsc -p tsconfig.build.json)";
const probe = spawnSync(process.execPath, [cliEntry, "--help"], { encoding: "utf8" });
if (probe.status !== 0) {
  const why = probe.stderr.split("\n").find((l) => /Error/.test(l)) ?? `exit ${probe.status}`;
  console.warn(`dist CLI does not start (${why}); using esbuild bundles of src/ instead`);
  const { build: esbuild } = await import("esbuild");
  const dir = join(ROOT, "node_modules", ".cache", "kiln-bench");
  // ssh2 is CommonJS with __dirname and optional native modules: give the ESM bundle the CJS globals.
  const banner = 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url); const __dirname = import.meta.dirname; const __filename = import.meta.filename;';
  const common = { bundle: true, platform: "node" as const, format: "esm" as const, target: "node20", external: ["better-sqlite3", "playwright-core", "cpu-features", "*.node"], banner: { js: banner }, logLevel: "warning" as const };
  cliEntry = join(dir, "cli.mjs");
  supervisorEntry = join(dir, "supervisor.mjs");
  await esbuild({ ...common, entryPoints: [join(ROOT, "src", "cli", "main.ts")], outfile: cliEntry });
  await esbuild({ ...common, entryPoints: [join(ROOT, "src", "core", "supervisor", "main.ts")], outfile: supervisorEntry });
  cliBuild = `esbuild bundle of src/ (dist CLI failed to start: ${why})`;
}

const work = mkdtempSync(join(tmpdir(), "kiln-bench-local-"));
const env = { ...process.env, KILN_HOME: join(work, "home"), KILN_LOG: "error", FAKE_STEPS: "1", FAKE_STEP_MS: "1", ...(supervisorEntry ? { KILN_SUPERVISOR_ENTRY: supervisorEntry } : {}) };
writeFileSync(join(work, "data.jsonl"), '{"text": "hi"}\n');
const spec = join(work, "bench.yaml");
writeFileSync(spec, `name: bench\nbudget: { max_usd: 1 }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 1024 }\n`);

// The workload alone: spawn → first line.
async function workloadAlone(i: number): Promise<number> {
  const out = join(work, `alone-${i}`);
  mkdirSync(out, { recursive: true });
  const cfg = join(out, "sae.yaml");
  writeFileSync(cfg, `output_dir: ${out}\n`);
  const t0 = Date.now();
  const child = spawn(FAKE, ["-m", "kiln_sae", "train", "--config", cfg], { env, stdio: "ignore" });
  const ts = await firstLineTs(join(out, "metrics.jsonl"));
  await new Promise((r) => child.on("exit", r));
  return ts - t0;
}

// Through Kiln: `kiln run --detach` → first line, then wait for the job's report (the supervisor's last act).
async function throughKiln(): Promise<{ totalMs: number; cliMs: number }> {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [cliEntry, "run", "--detach", spec], { cwd: work, env, encoding: "utf8", timeout: 30_000 });
  const cliMs = Date.now() - t0;
  if (r.status !== 0) throw new Error(`kiln run exited ${r.status}: ${r.stderr}`);
  const id = /started bench \((\S+)\)/.exec(r.stdout)?.[1];
  if (!id) throw new Error(`no job id in: ${r.stdout}`);
  const jobDir = join(env.KILN_HOME, "jobs", id);
  const ts = await firstLineTs(join(jobDir, "outputs", "sae", "metrics.jsonl"));
  await waitFor(join(jobDir, "report.md"));
  return { totalMs: ts - t0, cliMs };
}

await workloadAlone(-1); // warm caches
await throughKiln();
const alone: number[] = [];
const kiln: number[] = [];
const cli: number[] = [];
for (let i = 0; i < RUNS; i++) {
  alone.push(await workloadAlone(i));
  const k = await throughKiln();
  kiln.push(k.totalMs);
  cli.push(k.cliMs);
}
rmSync(work, { recursive: true, force: true });

const overhead = median(kiln) - median(alone);
const out = {
  bench: "local_overhead",
  at: new Date().toISOString(),
  machine: { os: `${platform()} ${release()}`, cpu_model: cpus()[0]?.model ?? "unknown", cores: cpus().length, mem_gb: round(totalmem() / 1e9), node: process.version, gpu: "none (nvidia-smi absent: the GPU probe's miss is part of the overhead)", note: "shared dev machine; other engineers' processes running", load_avg_1m: round(loadavg()[0] ?? 0) },
  cli_build: cliBuild,
  workload: "test/fixtures/workloads/fake-python (stdlib Python, metrics protocol)",
  runs: RUNS,
  kiln_run_to_first_metric_ms: { median: round(median(kiln)), min: round(Math.min(...kiln)), max: round(Math.max(...kiln)) },
  workload_alone_to_first_metric_ms: { median: round(median(alone)), min: round(Math.min(...alone)), max: round(Math.max(...alone)) },
  kiln_cli_process_ms: { median: round(median(cli)), note: "`kiln run --detach` until it exits (spec, probe, job dir, ledger, supervisor spawn)" },
  overhead_ms: round(overhead),
};
console.log(`kiln run → first metric: median ${out.kiln_run_to_first_metric_ms.median} ms; workload alone: ${out.workload_alone_to_first_metric_ms.median} ms; overhead ${out.overhead_ms} ms (CLI process ${out.kiln_cli_process_ms.median} ms)`);
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", "local_overhead.json"), `${JSON.stringify(out, null, 2)}\n`);

/**
 * How fast the CLI answers: `kiln --help` (target 300 ms) and `kiln plan examples/llama-8b-sae-pii.yaml`
 * (target 1 s; also with a 0.3 s fake nvidia-smi, as on a GPU machine), each the median of 15 fresh
 * `node dist/cli/main.js` processes after one warm-up. The build is the real one (tsc -p tsconfig.build.json into dist/), so this measures what users run: Node's start,
 * the import graph (commands import their heavy modules lazily), and for `plan` the spec, the GPU probe
 * and the planner.
 *
 *   npx vite-node bench/cli_speed.ts
 *   npx vite-node bench/cli_speed.ts -- --dist bench/.work/dist   # time an existing build instead
 *   … --variant NAME --note TEXT                                   # write cli_speed-NAME.json, with a note
 *
 * Writes bench/results/cli_speed.json with the machine's description.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const RUNS = 15;
// On a GPU machine `plan` also asks nvidia-smi (twice), which can take hundreds of ms per call without
// the persistence daemon; "plan_gpu" stands in for that with the test fake answering in 0.3 s.
const fakeSmiBin = mkdtempSync(join(tmpdir(), "kiln-bench-smi-"));
symlinkSync(join(ROOT, "test", "fixtures", "nvidia-smi", "fake-nvidia-smi"), join(fakeSmiBin, "nvidia-smi"));
const GPU_ENV = {
  PATH: `${fakeSmiBin}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
  FAKE_NVIDIA_SMI_FIXTURE: join(ROOT, "test", "fixtures", "nvidia-smi", "a100-40gb"),
  FAKE_NVIDIA_SMI_DELAY: "0.3",
};
const CASES = [
  { name: "help", argv: ["--help"], targetMs: 300, env: {} },
  { name: "plan", argv: ["plan", "examples/llama-8b-sae-pii.yaml"], targetMs: 1000, env: {} },
  { name: "plan_gpu", argv: ["plan", "examples/llama-8b-sae-pii.yaml"], targetMs: 1000, env: GPU_ENV },
] as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (n: number) => Math.round(n * 10) / 10;

const distArg = process.argv.indexOf("--dist");
const DIST = distArg > 0 ? process.argv[distArg + 1]! : "dist";
const noteArg = process.argv.indexOf("--note");
const NOTE = noteArg > 0 ? process.argv[noteArg + 1]! : "";
const variantArg = process.argv.indexOf("--variant");
const VARIANT = variantArg > 0 ? process.argv[variantArg + 1]! : "";
if (distArg < 0) {
  // tsc emits even when some file has a type error; a half-finished file elsewhere should not stop the bench.
  const build = spawnSync("npx", ["--no-install", "tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) console.warn(`tsc reported errors (output still emitted):\n${build.stdout.split("\n").slice(0, 5).join("\n")}`);
}
const env = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-bench-")), KILN_LOG: "error" };

const results: Record<string, unknown> = {};
for (const c of CASES) {
  const run = () => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [join(DIST, "cli", "main.js"), ...c.argv], { cwd: ROOT, env: { ...env, ...c.env }, encoding: "utf8", timeout: 30_000 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`kiln ${c.argv.join(" ")} exited ${r.status}: ${r.stderr}`);
    return ms;
  };
  run(); // warm the filesystem cache
  const times = Array.from({ length: RUNS }, run);
  const med = median(times);
  results[c.name] = { argv: c.argv, runs: RUNS, median_ms: round(med), min_ms: round(Math.min(...times)), max_ms: round(Math.max(...times)), target_ms: c.targetMs, meets_target: med <= c.targetMs };
  console.log(`${c.name}: kiln ${c.argv.join(" ")}: median ${round(med)} ms over ${RUNS} runs (target ${c.targetMs} ms) ${med <= c.targetMs ? "OK" : "SLOW"}`);
}

// A bare `node -e ""` is the floor no CLI can go under; reporting it separates Kiln's share from Node's.
const floor = median(Array.from({ length: RUNS }, () => {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, ["-e", ""]);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}));
console.log(`node -e "" (floor): median ${round(floor)} ms`);

const out = {
  bench: "cli_speed",
  at: new Date().toISOString(),
  machine: { os: `${platform()} ${release()}`, cpu_model: cpus()[0]?.model ?? "unknown", cores: cpus().length, mem_gb: round(totalmem() / 1e9), node: process.version, note: "shared dev machine; other engineers' processes running" },
  ...(NOTE ? { note: NOTE } : {}),
  dist: DIST,
  node_floor_ms: round(floor),
  ...results,
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", `cli_speed${VARIANT ? `-${VARIANT}` : ""}.json`), `${JSON.stringify(out, null, 2)}\n`);

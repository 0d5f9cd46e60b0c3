/**
 * How fast the CLI answers: `kiln --help` (target 300 ms) and `kiln plan examples/llama-8b-sae-pii.yaml`
 * (target 1 s; also with a 0.3 s fake nvidia-smi, as on a GPU machine), each the median of 15 fresh
 * `node dist/cli/main.js` processes after one warm-up. The build is the real one (`npm run build`: tsc into
 * dist/, then scripts/bundle-cli.mjs bundles the CLI), so this measures what users run: Node's start, the
 * import graph (commands import their heavy modules lazily), and for `plan` the spec, the GPU probe and the
 * planner. The same process also times the unbundled tsc build (bench/.work/dist-tsc) and `node -e ""`,
 * run for run interleaved with it, so the shared machine's load falls on all three alike.
 *
 *   npx vite-node bench/cli_speed.ts
 *   npx vite-node bench/cli_speed.ts -- --dist bench/.work/dist   # time an existing build instead (no baseline)
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
const BASELINE = join("bench", ".work", "dist-tsc");
const tsc = (...extra: string[]) => {
  // tsc emits even when some file has a type error; a half-finished file elsewhere should not stop the bench.
  const build = spawnSync("npx", ["--no-install", "tsc", "-p", "tsconfig.build.json", ...extra], { cwd: ROOT, encoding: "utf8" });
  if (build.status !== 0) console.warn(`tsc reported errors (output still emitted):\n${build.stdout.split("\n").slice(0, 5).join("\n")}`);
};
if (distArg < 0) {
  tsc();
  const bundle = spawnSync(process.execPath, [join(ROOT, "scripts", "bundle-cli.mjs")], { cwd: ROOT, encoding: "utf8" });
  if (bundle.status !== 0) throw new Error(`scripts/bundle-cli.mjs failed: ${bundle.stderr}`);
  tsc("--outDir", BASELINE);
}
const env = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-bench-")), KILN_LOG: "error" };

const results: Record<string, unknown> = {};
const baseline: Record<string, unknown> = {};
const stats = (c: (typeof CASES)[number], times: number[]) => {
  const med = median(times);
  return { argv: c.argv, runs: RUNS, median_ms: round(med), min_ms: round(Math.min(...times)), max_ms: round(Math.max(...times)), target_ms: c.targetMs, meets_target: med <= c.targetMs };
};
const timed = (argv: readonly string[], extraEnv: Record<string, string> = {}) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, argv, { cwd: ROOT, env: { ...env, ...extraEnv }, encoding: "utf8", timeout: 30_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
};
const floorTimes: number[] = [];
for (const c of CASES) {
  const variants = [DIST, ...(distArg < 0 ? [BASELINE] : [])];
  const times = new Map(variants.map((d) => [d, [] as number[]]));
  for (const d of variants) timed([join(d, "cli", "main.js"), ...c.argv], c.env); // warm the filesystem cache
  for (let i = 0; i < RUNS; i++) {
    for (const d of variants) times.get(d)!.push(timed([join(d, "cli", "main.js"), ...c.argv], c.env));
    // A bare `node -e ""` is the floor no CLI can go under; reporting it separates Kiln's share from Node's.
    floorTimes.push(timed(["-e", ""]));
  }
  results[c.name] = stats(c, times.get(DIST)!);
  const med = median(times.get(DIST)!);
  console.log(`${c.name}: kiln ${c.argv.join(" ")}: median ${round(med)} ms over ${RUNS} runs (target ${c.targetMs} ms) ${med <= c.targetMs ? "OK" : "SLOW"}`);
  if (times.has(BASELINE)) {
    baseline[c.name] = stats(c, times.get(BASELINE)!);
    console.log(`  unbundled tsc build: median ${round(median(times.get(BASELINE)!))} ms`);
  }
}
const floor = median(floorTimes);
console.log(`node -e "" (floor): median ${round(floor)} ms`);

const out = {
  bench: "cli_speed",
  at: new Date().toISOString(),
  machine: { os: `${platform()} ${release()}`, cpu_model: cpus()[0]?.model ?? "unknown", cores: cpus().length, mem_gb: round(totalmem() / 1e9), node: process.version, note: "shared dev machine; other engineers' processes running" },
  ...(NOTE ? { note: NOTE } : {}),
  dist: DIST,
  node_floor_ms: round(floor),
  ...results,
  ...(Object.keys(baseline).length > 0 ? { unbundled_tsc_build: { dist: BASELINE, ...baseline } } : {}),
};
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(join(ROOT, "bench", "results", `cli_speed${VARIANT ? `-${VARIANT}` : ""}.json`), `${JSON.stringify(out, null, 2)}\n`);

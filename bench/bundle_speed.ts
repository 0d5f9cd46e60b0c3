/**
 * How long a bundle takes (walk + secret scan + hash + tar.gz) for the two shapes Kiln ships: the demo
 * job's directory plus the repo's workload/ (small: source only), and a synthetic 40 MB tree of 400
 * text files (a job that ships a small data sample). Median of 5 runs each, with the bundle's size and
 * whether two runs gave the same sha256.
 *
 *   npx vite-node bench/bundle_speed.ts
 *
 * Writes bench/results/bundle_speed.json with the machine's description.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createBundle } from "../src/remote/bundle/index.js";

const ROOT = join(import.meta.dirname, "..");
const RUNS = 5;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function syntheticTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-tree-"));
  // Chat-like JSONL lines: realistic text for the scanner's regexes, ~100 KB per file.
  const line = JSON.stringify({ conversation: [{ role: "user", content: "My name is Ada and my phone is 555-0134; can you help me plan a trip?" }] });
  for (let i = 0; i < 400; i++) {
    const sub = join(dir, "data", `shard-${Math.floor(i / 50)}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `part-${i}.jsonl`), `${line}\n`.repeat(Math.ceil(100_000 / (line.length + 1))));
  }
  return dir;
}

async function measure(name: string, workdir: string, extraDirs: string[]) {
  const out = mkdtempSync(join(tmpdir(), "kiln-bench-out-"));
  const ms: number[] = [];
  const shas = new Set<string>();
  let last: Awaited<ReturnType<typeof createBundle>> | undefined;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    last = await createBundle({ workdir, extraDirs, outDir: out, maxBytes: 1 << 30 });
    ms.push(performance.now() - t0);
    shas.add(last.sha256);
  }
  rmSync(out, { recursive: true, force: true });
  const r = {
    name,
    files: last!.manifest.files.length,
    inputBytes: last!.manifest.totalBytes,
    bundleBytes: last!.bytes,
    medianMs: Math.round(median(ms)),
    inputMBps: Math.round((last!.manifest.totalBytes / 1e6 / (median(ms) / 1000)) * 10) / 10,
    deterministic: shas.size === 1,
  };
  console.log(JSON.stringify(r));
  return r;
}

const tree = syntheticTree();
const results = [await measure("demo job + workload/", join(ROOT, "examples"), [join(ROOT, "workload")]), await measure("40 MB synthetic tree", tree, [])];
rmSync(tree, { recursive: true, force: true });
mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
writeFileSync(
  join(ROOT, "bench", "results", "bundle_speed.json"),
  `${JSON.stringify({ date: new Date().toISOString(), machine: { cpu: cpus()[0]?.model, cores: cpus().length, memGb: Math.round(totalmem() / 1e9), os: `${platform()} ${release()}` }, runs: RUNS, results }, null, 2)}\n`,
);

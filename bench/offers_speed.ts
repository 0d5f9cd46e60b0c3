/**
 * How fast `kiln offers` gets live prices from every configured cloud: the providers asked one after
 * another (the old path: findOffers awaited each live source in turn) against all at once, each under its
 * own deadline (askProviders, what `kiln offers` and `kiln plan` do now), in the same process, run for run
 * interleaved so the shared machine's load falls on both alike. Target: `kiln offers` across all providers
 * live (emulated) in under 2 s.
 *
 * The clouds are whatever is emulated when it runs: Lambda's emulator (startCloudHarness) and every cloud
 * with an account harness (src/providers/NAME/testing/harness.ts, started if it starts within 60 s), plus
 * test-only providers registered here to show the deadline: one that answers after 0.5 s, one after 3 s and
 * one that never answers (and ignores its AbortSignal). The result names which clouds were covered.
 *
 *   npx vite-node bench/offers_speed.ts                 # writes bench/results/offers_speed.json
 *   npx vite-node bench/offers_speed.ts -- --runs 3 --deadline 1.5
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, tmpdir } from "node:os";
import { join } from "node:path";
import { nullLogger } from "../src/base/logger.js";
import { captureIo } from "../src/cli/io.js";
import { main } from "../src/cli/main.js";
import { priceSources } from "../src/cli/commands/offers.js";
import { kilnPaths } from "../src/core/home.js";
import { askProviders } from "../src/core/planner/live-prices.js";
import { priceTestCloud } from "../src/core/planner/testing/offers.js";
import type { GpuRequest } from "../src/providers/provider.js";
import { registerProvider } from "../src/providers/registry.js";
import { startAccounts } from "./emulated_accounts.js";

const ROOT = join(import.meta.dirname, "..");
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const RUNS = arg("runs", 5);
const DEADLINE_MS = arg("deadline", 1.5) * 1000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function run(): Promise<void> {
  const started = new Date().toISOString();
  const load = loadavg()[0]!;
  const { accounts, skipped } = await startAccounts();
  const slow = [
    priceTestCloud("bench-slow-0.5s", { delayMs: 500 }),
    priceTestCloud("bench-slow-3s", { delayMs: 3000 }),
    priceTestCloud("bench-hang", "hang"),
  ];
  const unregister = slow.map((d) => registerProvider(d));
  const home = mkdtempSync(join(tmpdir(), "kiln-offers-speed-"));
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: home, KILN_LOG: "silent" };
  for (const a of accounts) Object.assign(env, a.env);
  const ctx = { io: captureIo(), logger: nullLogger, paths: kilnPaths(env), env, cwd: ROOT, signal: new AbortController().signal };
  const req: GpuRequest = { gpus: "any", count: 1, minVramGb: 1, spot: "never" };
  try {
    const sources = await priceSources(ctx, undefined);
    const names = Object.keys(sources.live);
    const real = names.filter((n) => !n.startsWith("bench-"));
    const onlyReal = Object.fromEntries(real.map((n) => [n, sources.live[n]!]));
    // One warm-up of each path (module loading, the emulators' first requests).
    await askProviders(sources.live, req, { deadlineMs: DEADLINE_MS });
    const seq: number[] = [];
    const par: number[] = [];
    const parReal: number[] = [];
    const seqReal: number[] = [];
    const cli: number[] = [];
    const perProvider: Record<string, number[]> = {};
    let lastStatus: Record<string, string> = {};
    for (let i = 0; i < RUNS; i++) {
      // Sequential baseline: one provider after another, each still under the deadline (else the hang never ends).
      let t = performance.now();
      for (const [n, s] of Object.entries(sources.live)) await askProviders({ [n]: s }, req, { deadlineMs: DEADLINE_MS });
      seq.push(performance.now() - t);
      t = performance.now();
      const answers = await askProviders(sources.live, req, { deadlineMs: DEADLINE_MS });
      par.push(performance.now() - t);
      for (const a of answers) perProvider[a.provider] = [...(perProvider[a.provider] ?? []), a.ms];
      lastStatus = Object.fromEntries(answers.map((a) => [a.provider, a.status === "live" ? `live, ${a.offers.length} offers` : `${a.status}: ${a.error}`]));
      t = performance.now();
      await askProviders(onlyReal, req, { deadlineMs: DEADLINE_MS });
      parReal.push(performance.now() - t);
      t = performance.now();
      for (const [n, s] of Object.entries(onlyReal)) await askProviders({ [n]: s }, req, { deadlineMs: DEADLINE_MS });
      seqReal.push(performance.now() - t);
      // The whole command, in-process: configure every account, ask, merge with the catalog, print.
      const io = captureIo();
      t = performance.now();
      const code = await main(["offers", "--deadline", String(DEADLINE_MS / 1000)], io, { env, cwd: ROOT });
      cli.push(performance.now() - t);
      if (code !== 0) throw new Error(`kiln offers exited ${code}: ${io.stderr}`);
    }
    // The command again without the test-only providers: every emulated cloud, none slow.
    for (const u of unregister.splice(0)) u();
    const cliReal: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const io = captureIo();
      const t = performance.now();
      const code = await main(["offers", "--deadline", String(DEADLINE_MS / 1000)], io, { env, cwd: ROOT });
      cliReal.push(performance.now() - t);
      if (code !== 0) throw new Error(`kiln offers exited ${code}: ${io.stderr}`);
    }
    const result = {
      what: "kiln offers across every configured provider: sequential (one after another) vs parallel (all at once, each under a deadline)",
      started,
      machine: { platform: `${platform()} ${release()}`, cpus: cpus().length, cpu: cpus()[0]?.model, loadavg1AtStart: load, loadavg1AtEnd: loadavg()[0] },
      runs: RUNS,
      deadlineMs: DEADLINE_MS,
      covered: { emulated: real, testOnly: slow.map((d) => d.name), notCovered: skipped },
      statusInLastRun: lastStatus,
      medianMs: {
        sequential: Math.round(median(seq)),
        parallel: Math.round(median(par)),
        sequentialEmulatedOnly: Math.round(median(seqReal)),
        parallelEmulatedOnly: Math.round(median(parReal)),
        kilnOffersCommand: Math.round(median(cli)),
        kilnOffersCommandEmulatedOnly: Math.round(median(cliReal)),
      },
      notes: [
        "sequential/parallel: every provider incl. the test-only ones; each still under the deadline, else the hanging one never returns (the old path had a 15 s deadline per provider, asked in turn)",
        "EmulatedOnly: the emulated clouds alone (loopback HTTP emulators answer in milliseconds, so the gain there is small in absolute terms)",
        "kilnOffersCommand: `kiln offers` in-process (configure every account, ask all, merge with the catalog, print) with the test-only providers registered; bounded by the deadline",
      ],
      ratioSequentialOverParallel: Number((median(seq) / median(par)).toFixed(2)),
      perProviderMedianMs: Object.fromEntries(Object.entries(perProvider).map(([n, xs]) => [n, Math.round(median(xs))])),
      targetKilnOffersUnder2s: { met: median(cli) < 2000 && median(cliReal) < 2000 },
      allMs: { sequential: seq.map(Math.round), parallel: par.map(Math.round), sequentialEmulatedOnly: seqReal.map(Math.round), parallelEmulatedOnly: parReal.map(Math.round), kilnOffersCommand: cli.map(Math.round), kilnOffersCommandEmulatedOnly: cliReal.map(Math.round) },
    };
    const out = join(ROOT, "bench", "results", "offers_speed.json");
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result.medianMs)}\nratio sequential/parallel: ${result.ratioSequentialOverParallel}x\ncovered: ${real.join(", ")} (+ ${slow.map((d) => d.name).join(", ")})\nnot covered: ${JSON.stringify(skipped)}\nwrote ${out}\n`);
  } finally {
    for (const u of unregister) u();
    for (const a of accounts) await a.close().catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  }
}

await run();
process.exit(0);

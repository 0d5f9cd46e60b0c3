/**
 * Kiln's own overhead per cloud launch, against the Lambda emulator with zero boot delay (so what is
 * measured is Kiln, not a cloud): from `kiln run JOB --provider lambda` to the job started on the
 * machine — plan (live offers), job + ledger, driver start, launch, wait for running, SSH, verify,
 * stage + bundle + ship, start the run and the watchdog. The machine is a real loopback sshd. Also:
 * the time from a crash (driver SIGKILLed mid-training) to a reconciled ledger and a terminated
 * machine on the next `kiln status` (which first checkpoints and pulls the dead job's outputs).
 *
 *   npx vite-node bench/cloud_overhead.ts                  # Lambda
 *   PROVIDER=runpod npx vite-node bench/cloud_overhead.ts  # any cloud with src/providers/NAME/testing/harness.ts
 *
 * Writes bench/results/cloud_overhead.json (Lambda) or cloud_overhead-NAME.json with the machine's
 * description. Target: under 15 s.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { pollUntil } from "../src/base/deadline.js";
import { captureIo } from "../src/cli/io.js";
import { main } from "../src/cli/main.js";
import { startCloudHarness } from "../src/core/lifecycle/testing/cloud.js";
import type { AccountHarness, HarnessOptions } from "../src/providers/emulator-kit/harness.js";
import { providerNamed } from "../src/providers/registry.js";
import { bundleDriver } from "../src/core/lifecycle/testing/driver-bundle.js";
import { Ledger } from "../src/store/index.js";

const ROOT = join(import.meta.dirname, "..");
const FAKE = join(ROOT, "test", "fixtures", "workloads", "fake-python");
const RUNS = Number(process.env["RUNS"] ?? "") || 5;
const PROVIDER = process.env["PROVIDER"] || "lambda";
const MILESTONES = ["provider", "launched", "running", "ssh", "verified", "shipped", "started"] as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The emulated account: Lambda's harness, or the cloud's own (src/providers/NAME/testing/harness.ts). */
async function startAccount(): Promise<Pick<AccountHarness, "env" | "live" | "close">> {
  const machineEnv = { FAKE_STEPS: "100", FAKE_STEP_MS: "50" };
  if (PROVIDER === "lambda") return startCloudHarness({ bootDelayMs: 0, terminateDelayMs: 0, machineEnv });
  const mod = (await import(join(ROOT, "src", "providers", PROVIDER, "testing", "harness.ts"))) as { startHarness(o?: HarnessOptions): Promise<AccountHarness> };
  return mod.startHarness({ bootDelayMs: 0, machineEnv });
}

async function main_(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-cloud-"));
  const cloud = await startAccount();
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  const spec = join(dir, "bench.yaml");
  // A cloud whose cap is a deadline set at launch cannot keep data past it: that spec says stop-billing.
  const choice = providerNamed(PROVIDER).cap?.cloudSideStop === "deadline-at-launch" ? "stop-billing" : "keep-data";
  writeFileSync(spec, `name: bench\nbudget: { max_usd: 5, on_cap_offline: ${choice} }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  const env = { ...process.env, ...cloud.env, KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(), KILN_CLOUD_POLL_MS: "500", KILN_TERMINATE_POLL_MS: "100", KILN_STOP_GRACE_MS: "5000" };
  const kiln = async (home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) => {
    const io = captureIo();
    const code = await main(argv, io, { env: { ...env, KILN_HOME: home, ...extra }, cwd: dir });
    return { code, out: io.stdout, err: io.stderr };
  };
  const launches: Record<string, number>[] = [];
  const crashes: { reconcileMs: number; terminated: boolean }[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const home = join(dir, `run-${i}`);
      const t0 = Date.now();
      const r = await kiln(home, ["run", spec, "--provider", PROVIDER, "--detach"]);
      const planned = Date.now() - t0;
      const id = new RegExp(`\\((\\S+)\\) on ${PROVIDER}`).exec(r.out)?.[1];
      if (r.code !== 0 || !id) throw new Error(`kiln run failed: ${r.err}`);
      const log = join(home, "jobs", id, "logs", "driver.log");
      const marks = await pollUntil(
        async () => {
          const text = (() => {
            try {
              return readFileSync(log, "utf8");
            } catch {
              return "";
            }
          })();
          const m = Object.fromEntries([...text.matchAll(/milestone (\w+) at (\d+) ms/g)].map((x) => [x[1]!, Number(x[2])]));
          return m["started"] !== undefined ? m : undefined;
        },
        { what: "the job to start", timeoutMs: 120_000, intervalMs: 50 },
      );
      const total = Date.now() - t0;
      launches.push({ planAndSubmitMs: planned, ...Object.fromEntries(MILESTONES.map((k) => [`${k}Ms`, marks[k] ?? -1])), totalToStartedMs: total });
      const ledgerPath = join(home, "ledger.db");
      await pollUntil(
        async () => {
          const l = Ledger.open(ledgerPath);
          try {
            return ["succeeded", "failed", "stopped"].includes(l.getJob(id)!.state) ? true : undefined;
          } finally {
            l.close();
          }
        },
        { what: "the job to end", timeoutMs: 120_000, intervalMs: 200 },
      );
      // Crash → reconcile: the driver SIGKILLs itself mid-training; time the next `kiln status`.
      const ch = join(dir, `crash-${i}`);
      await kiln(ch, ["run", spec, "--provider", PROVIDER], { KILN_CRASH_AT: "during-training" });
      const t1 = Date.now();
      const s = await kiln(ch, ["status", "--refresh"]);
      const reconcileMs = Date.now() - t1;
      if (s.code !== 0) throw new Error(`kiln status failed: ${s.err}`);
      crashes.push({ reconcileMs, terminated: cloud.live().length === 0 });
    }
  } finally {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const keys = Object.keys(launches[0]!);
  const result = {
    bench: "cloud_overhead",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGb: Math.round(totalmem() / 2 ** 30), platform: `${platform()} ${release()}`, node: process.version, loadavg: loadavg() },
    provider: PROVIDER,
    setup: `${PROVIDER} emulator (boot delay 0) with each machine a loopback OpenSSH sshd; fake workload (stdlib Python); driver as a detached Node process (esbuild bundle)`,
    runs: RUNS,
    medianMs: Object.fromEntries(keys.map((k) => [k, median(launches.map((l) => l[k]!))])),
    launches,
    crashToReconciled: { medianMs: median(crashes.map((c) => c.reconcileMs)), runs: crashes, note: "kiln status --refresh after a SIGKILL mid-training: SIGTERM the run (checkpoint), pull, terminate, confirm, close the job" },
    targetMs: 15_000,
  };
  writeFileSync(join(ROOT, "bench", "results", PROVIDER === "lambda" ? "cloud_overhead.json" : `cloud_overhead-${PROVIDER}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ medianMs: result.medianMs, crashToReconciled: result.crashToReconciled.medianMs }, null, 2)}\n`);
}

await main_();

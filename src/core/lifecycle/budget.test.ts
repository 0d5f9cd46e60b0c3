// The hard budget cap, with the driver in-process against the emulator (a real loopback sshd behind
// the instance): at $3600/h a $24 cap is crossed seconds into training; Kiln checkpoints (SIGTERM),
// pulls and verifies, terminates, and the emulator bills no more than the cap plus one interval.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { DEFAULT_INSTANCE_TYPES } from "../../providers/lambda/emulator.js";
import { offersFrom } from "../../providers/lambda/provider.js";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { Ledger } from "../../store/index.js";
import { writeCloudFile } from "./cloud-file.js";
import { driveCloudJob } from "./drive.js";
import { prepareJob, shippingFor } from "./prepare.js";
import { loadJobSpec } from "../spec/index.js";
import { type CloudHarness, startCloudHarness } from "./testing/cloud.js";

const FAKE = resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures", "workloads", "fake-python");
const PRICE_CENTS = 360_000; // $3600/h: $1 a second
const CAP = 24;
const POLL_MS = 300;
let dir: string;
let cloud: CloudHarness;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-budget-"));
  const types = structuredClone(DEFAULT_INSTANCE_TYPES).filter((t) => t.name === "gpu_1x_a10");
  types[0]!.price_cents_per_hour = PRICE_CENTS;
  // 100 s of training: the cap (crossed ~16 s after launch) always comes first, however loaded the machine.
  cloud = await startCloudHarness({ instanceTypes: types, machineEnv: { FAKE_STEPS: "2000", FAKE_STEP_MS: "50" } });
});
afterAll(async () => {
  await cloud?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!sshdAvailable)("hard budget cap (skipped where sshd is missing)", () => {
  it("checkpoints, pulls, verifies and terminates before the cap; billed ≤ cap + one polling interval", async () => {
    const home = join(dir, "kiln");
    const jobDir = join(home, "jobs", "j-budget");
    mkdirSync(join(jobDir, "logs"), { recursive: true });
    writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
    const spec = `name: budget\nbudget: { max_usd: ${CAP}, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`;
    writeFileSync(join(jobDir, "spec.yaml"), spec);
    const ledger = Ledger.open(join(home, "ledger.db"));
    ledger.createJob({ id: "j-budget", name: "budget", kind: "sae-pii", specYaml: spec, jobDir });
    ledger.close();
    const offers = offersFrom(Object.fromEntries(cloud.emu.account.types.map((t) => [t.name, { instance_type: { name: t.name, description: t.description, gpu_description: t.gpu_description, price_cents_per_hour: t.price_cents_per_hour, specs: t.specs }, regions_with_capacity_available: [{ name: "us-east-1", description: "" }] }])) as never, "2026-11-28", undefined, { maxPerGpuHour: Number.POSITIVE_INFINITY });
    writeCloudFile(jobDir, {
      version: 1,
      jobId: "j-budget",
      jobName: "budget",
      provider: "lambda",
      sim: false,
      specDir: dir,
      offers: offers.map(({ vcpus: _v, memoryGb: _m, ...o }) => o),
      maxOffers: 1,
      budget: { maxUsd: CAP, alertFractions: [0.5, 0.8] },
      pollMs: POLL_MS,
      teardownReserveMs: 8_000,
      bootTimeoutMs: 30_000,
      terminate: { pollMs: 100, timeoutMs: 20_000 },
      stopGraceMs: 5_000,
      watchdogTerminate: false,
    });
    // What `kiln run` does in the foreground before it starts the driver: the bundle, built and scanned.
    const parsed = await loadJobSpec(join(jobDir, "spec.yaml"));
    await prepareJob({ spec: parsed, specDir: dir, jobId: "j-budget", jobDir, shipping: shippingFor(parsed, { emulated: true, env: process.env }), env: process.env, logger: nullLogger });
    const state = await driveCloudJob(jobDir, { env: { ...process.env, ...cloud.env, KILN_HOME: home }, logger: nullLogger, signal: new AbortController().signal });
    expect(state).toBe("stopped");
    const [billed] = cloud.emu.inspect();
    expect(billed!.status).toBe("terminated");
    const pricePerS = PRICE_CENTS / 100 / 3600;
    expect(billed!.costUsd).toBeLessThanOrEqual(CAP + (pricePerS * POLL_MS) / 1000);
    const l = Ledger.open(join(home, "ledger.db"));
    try {
      const events = l.listEvents("j-budget");
      expect(events.filter((e) => e.kind === "budget_alert").map((e) => (e.data_json ? JSON.parse(e.data_json).fraction : undefined))).toEqual([0.5, 0.8]);
      expect(events.find((e) => e.kind === "stopping")?.reason).toMatch(/^budget reached/);
      expect(l.listArtifacts("j-budget").filter((a) => a.verified_at).map((a) => a.path)).toContain("sae/checkpoints/latest.json");
      const m = l.listMachines("j-budget")[0]!;
      const ledgerCost = (m.price_per_hour * (Date.parse(m.terminated_at!) - Date.parse(m.launched_at!))) / 3_600_000;
      expect(ledgerCost).toBeLessThanOrEqual(CAP + (pricePerS * POLL_MS) / 1000 + pricePerS * 0.5);
    } finally {
      l.close();
    }
    // The engine saw SIGTERM and saved a final checkpoint: its last line says so.
    const last = readFileSync(join(jobDir, "outputs", "sae", "metrics.jsonl"), "utf8").trim().split("\n").at(-1)!;
    expect(JSON.parse(last)).toMatchObject({ kind: "done", reason: "sigterm" });
  }, 90_000);
});

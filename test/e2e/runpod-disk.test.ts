// The reference job's shape (Llama-3.1-8B layer 12, 32,768 latents, 10 epochs of 100k LMSYS conversations:
// a 444 GB activation cache) planned and run with `kiln run --provider runpod --sim`: RunPod's pods state a
// 100 GB container disk, so the planner sizes one at launch that holds the cache (cheaper than streaming it),
// and that size reaches the pod — the emulator records the create's `disk` — and the ledger bills it with the
// machine. The fake workload (test/fixtures/workloads/fake-python) stands in for the engine: the size is the
// planner's, the run only has to finish on that pod.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { HOURS_PER_MONTH } from "../../src/providers/provider.js";
import { CONTAINER_DISK_SIZING } from "../../src/providers/runpod/disk.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-runpod-disk-"));
  env = { ...(await cloudTestEnv({ KILN_SIM_BOOT_MS: "200" })), KILN_HOME: join(dir, "kiln") };
});
afterAll(() => {
  removeTestHomes(dir);
});

async function kiln(argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io, { env, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

describe.skipIf(!sshdAvailable)("RunPod --sim: a disk sized at launch for the activation cache (needs /usr/sbin/sshd)", () => {
  it("plans a sized container disk for the reference job's cache, and the pod is created with it", async () => {
    const specPath = join(dir, "disk.yaml");
    writeFileSync(
      specPath,
      `name: disk
resources: { gpu: any, spot: never, providers: [runpod] }
budget: { max_usd: 5, on_cap_offline: keep-data }
workload:
  type: sae-pii
  python: ${FAKE}
  sae: { base_model: meta-llama/Llama-3.1-8B, layer: 12, latents: 32768, k: 64, epochs: 10, dataset: { name: lmsys/lmsys-chat-1m, subset_size: 100000 } }
`,
    );
    // The plan says it (RunPod's catalog rows here: no key is configured): the chosen pod's cache is on a disk
    // sized at launch, with its size and cost. The size depends on the cache alone, so `run` sizes the same.
    const plan = await kiln(["plan", specPath, "--json"]);
    const json = JSON.parse(plan.out) as { considered: { chosen: boolean; launchDisk?: { gb: number; usdPerHour: number }; time?: { cache: { location: string; sizeGb: number } } }[] };
    const chosen = json.considered.find((o) => o.chosen)!;
    expect(chosen.time?.cache.location).toBe("disk");
    expect(chosen.time!.cache.sizeGb).toBeGreaterThan(400);
    const disk = chosen.launchDisk!;
    expect(disk.gb).toBeGreaterThan(chosen.time!.cache.sizeGb);
    expect(disk.usdPerHour).toBeCloseTo((disk.gb * CONTAINER_DISK_SIZING.usdPerGbMonth) / HOURS_PER_MONTH, 9);

    const run = await kiln(["run", specPath, "--provider", "runpod", "--sim"]);
    expect(run.err).toBe("");
    expect(run.code).toBe(0);
    const id = /\((\d{8}-\d{6}-[0-9a-f]{4})\)/.exec(run.out)![1]!;
    const jobDir = join(env["KILN_HOME"]!, "jobs", id);
    // The simulated RunPod's own record of the pod: created with the planned disk, and deleted.
    const billed = JSON.parse(readFileSync(join(jobDir, "sim-billing.json"), "utf8")) as { status: string; diskGb: number }[];
    expect(billed.map((b) => ({ status: b.status, diskGb: b.diskGb }))).toEqual([{ status: "terminated", diskGb: disk.gb }]);
    inLedger(env["KILN_HOME"]!, (l) => {
      expect(l.getJob(id)!.state).toBe("succeeded");
      const [m] = l.listMachines(id);
      const offer = JSON.parse(m!.offer_json) as { launchDisk?: { gb: number }; pricePerHour: number };
      expect(offer.launchDisk?.gb).toBe(disk.gb);
      // The ledger's rate (spend, the budget cap) counts the disk with the machine.
      expect(m!.price_per_hour).toBeCloseTo(offer.pricePerHour + disk.usdPerHour, 9);
    });
    expect(existsSync(join(jobDir, "outputs"))).toBe(true);
  }, 300_000);
});

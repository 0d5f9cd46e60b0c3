// A spot reclaim on EC2, recovered: a spot job on moto's EC2 (behind Kiln's shim, every instance a real
// loopback sshd) through a real detached driver; after a checkpoint reached this computer the spot market
// takes the machine. moto cannot reclaim (no spot interruption, no Server.SpotInstanceTermination state
// reason, no instance metadata), so the shim does what EC2 does: the IMDSv2 notice, then the termination
// with that state reason. The provider reports `reclaimed`, the attempt ends preempted, and the job
// finishes on a second spot machine from the checkpoint, with no instance left.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, metricLines, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { type AwsHarness, startHarness } from "../../src/providers/aws/testing/harness.js";
import { VENV_PYTHON } from "../../src/providers/aws/testing/moto.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: AwsHarness | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-aws-reclaim-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  base = await cloudTestEnv({ KILN_STOP_GRACE_MS: "3000", KILN_PROVIDER_POLL_MS: "500", KILN_LISTING_LAG_MS: "1500" });
});
afterAll(async () => {
  await cloud?.close();
  removeTestHomes(dir);
});

const savedStep = (home: string, id: string): number => {
  const p = join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as { step: number }).step : -1;
};

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("aws spot reclaim, recovered (moto + shim, real driver)", () => {
  it("the reclaimed attempt ends preempted with EC2's reason and the job finishes on a new spot machine from its checkpoint", async () => {
    cloud = await startHarness({ machineEnv: { FAKE_STEPS: "60", FAKE_STEP_MS: "100" } });
    const spec = join(dir, "spot.yaml");
    writeFileSync(spec, `name: spot\nresources: { providers: [aws], spot: prefer, max_restarts: 2 }\nbudget: { max_usd: 2, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
    const home = join(dir, "k");
    const kiln = async (argv: string[]) => {
      const io = captureIo();
      const code = await main(argv, io, { env: { ...base, KILN_HOME: home, ...cloud!.env }, cwd: dir });
      return { code, out: io.stdout, err: io.stderr };
    };
    const run = await kiln(["run", spec, "--provider", "aws", "--detach"]);
    expect(run.err).toBe("");
    const id = /started spot \((\S+)\)/.exec(run.out)![1]!;
    await pollUntil(async () => (savedStep(home, id) >= 10 && cloud!.live().length === 1 ? true : undefined), { what: "a checkpoint on the first machine", timeoutMs: 120_000, intervalMs: 100 });
    const [first] = cloud.live();
    expect(first!.id).toMatch(/^us-east-1\/i-[0-9a-f]+$/);
    const saved = savedStep(home, id);
    await cloud.reclaim!(first!.id);
    const end = await pollUntil(
      async () => {
        const s = inLedger(home, (l) => l.getJob(id)!.state);
        return ["succeeded", "failed", "stopped", "interrupted"].includes(s) ? s : undefined;
      },
      { what: "the job to end", timeoutMs: 150_000, intervalMs: 200 },
    );
    expect(end).toBe("succeeded");
    inLedger(home, (l) => {
      const attempts = l.listAttempts(id);
      expect(attempts.map((a) => a.state)).toEqual(["preempted", "succeeded"]);
      expect(attempts[0]!.reason).toContain("Server.SpotInstanceTermination");
      const machines = l.listMachines(id);
      expect(machines.map((m) => m.state)).toEqual(["terminated", "terminated"]);
      expect(machines[0]!.provider_id).toBe(first!.id);
    });
    // Both machines were spot, billed at the spot price the offers named; none is left.
    expect(cloud.front.instances().map((i) => i.spot)).toEqual([true, true]);
    expect(cloud.live()).toEqual([]);
    const starts = metricLines(home, id).filter((m) => m["kind"] === "start");
    expect(starts).toHaveLength(2);
    expect(starts[1]!["resumed"]).toBe(true);
    expect(starts[1]!["step"] as number).toBeGreaterThanOrEqual(saved);
  }, 300_000);
});

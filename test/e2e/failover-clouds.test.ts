// Failover between two real providers' emulated accounts (Thunder and RunPod), through `kiln run` and the
// detached driver: with Thunder sold out, the job lands on RunPod's offer, runs and succeeds, and the launch
// event's failure table says that Thunder had no capacity. Nothing is left on either account.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, inLedger, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { startHarness as startRunpod } from "../../src/providers/runpod/testing/harness.js";
import { startHarness as startThunder } from "../../src/providers/thunder/testing/harness.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let dir: string;
let thunder: Awaited<ReturnType<typeof startThunder>>;
let runpod: Awaited<ReturnType<typeof startRunpod>>;
let base: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-failover-clouds-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  const machineEnv = { FAKE_STEPS: "20", FAKE_STEP_MS: "50" };
  thunder = await startThunder({ machineEnv });
  runpod = await startRunpod({ machineEnv });
  base = await cloudTestEnv({ ...thunder.env, ...runpod.env, KILN_STOP_GRACE_MS: "3000", KILN_LISTING_LAG_MS: "1" });
}, 120_000);
afterAll(async () => {
  await thunder?.close();
  await runpod?.close();
  if (dir) removeTestHomes(dir);
});

async function kiln(home: string, argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...base, KILN_HOME: home }, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

describe.skipIf(!sshdAvailable)("failover across real providers' emulators (needs /usr/sbin/sshd)", () => {
  it("Thunder sold out: the job lands on RunPod, and the failure table says why", async () => {
    const spec = join(dir, "soldout.yaml");
    // Thunder's H100 ($1.97/h in its emulator, against RunPod's $2.39) is the cheapest offer of the two accounts for this job: the plan tries it first.
    writeFileSync(spec, `name: soldout\nresources: { gpu: [H100-80GB], providers: [thunder, runpod] }\nbudget: { max_usd: 5, on_cap_offline: keep-data }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
    const home = join(dir, "k");
    const plan = await kiln(home, ["plan", spec, "--json"]);
    expect(plan.code, plan.err).toBe(0);
    const chosen = (JSON.parse(plan.out) as { considered: { chosen: boolean; offer?: { provider: string } }[] }).considered.find((c) => c.chosen);
    expect(chosen?.offer?.provider).toBe("thunder");
    thunder.emu.inject({ kind: "capacity", match: { method: "POST" } });
    const r = await kiln(home, ["run", spec, "--provider", "thunder,runpod"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const id = /started soldout \((\S+)\)/.exec(r.out)![1]!;
    inLedger(home, (l) => {
      expect(l.getJob(id)!.state).toBe("succeeded");
      expect(l.listAttempts(id).map((a) => [a.provider, a.state])).toEqual([["runpod", "succeeded"]]);
      const launch = l.listEvents(id, { kind: "launch" })[0]!;
      expect(launch.reason).toMatch(/^failed over to runpod /);
      const failures = (JSON.parse(launch.data_json!) as { failures: { provider: string; kind: string }[] }).failures;
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.filter((f) => f.provider === "thunder").map((f) => f.kind)).toContain("capacity");
      expect(l.listMachines(id).filter((m) => m.state !== "never-launched").map((m) => [m.provider, m.state])).toEqual([["runpod", "terminated"]]);
    });
    expect(thunder.live()).toEqual([]);
    expect(runpod.live()).toEqual([]);
    // The report says why the job is not on Thunder: its offers tried first, each with what happened.
    const report = await kiln(home, ["report", id]);
    expect(report.code, report.err).toBe(0);
    const md = readFileSync(join(home, "jobs", id, "report.md"), "utf8");
    const section = md.slice(md.indexOf("Offers tried before launch"));
    expect(section).toMatch(/\| [^|]+ \| thunder \| capacity \| [^|]+ \|/);
  }, 240_000);
});

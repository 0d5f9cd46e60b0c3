// `kiln run` on provider ssh against a real loopback sshd (the "user's host"): the demo job with the
// real SAE engine, shrunk to a few thousand tokens, run through the cloud driver — connect, verify,
// ship, run, monitor, pull and verify, unregister. The host's Python is this repo's venv
// (resources.ssh.python), so nothing is installed there.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { bundleDriver } from "../../src/core/lifecycle/testing/driver-bundle.js";
import { type TestSshd, sshdAvailable, startSshd } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
const ID = /\((\d{8}-\d{6}-[0-9a-f]{4})\)/;
let home: string;
let env: NodeJS.ProcessEnv;
let sshd: TestSshd;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-sshrun-"));
  env = { ...process.env, KILN_HOME: join(home, "kiln"), KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(), KILN_FOLLOW_INTERVAL_MS: "500", KILN_CLOUD_POLL_MS: "1000", KILN_TERMINATE_POLL_MS: "200", HF_HUB_OFFLINE: "1" };
});
afterEach(async () => {
  await sshd?.cleanup();
});
// A finished job's detached driver may still be writing its log: let it finish (or kill it), then remove.
afterAll(() => removeTestHomes(home));

/** The demo job on the sshd's host, shrunk: `tokens` training tokens, a tiny probe. */
function writeSpec(name: string, o: { tokens: number; device: string; cleanup?: boolean }): string {
  const spec = parse(readFileSync(join(ROOT, "examples", "sae-pii-local.yaml"), "utf8"));
  const t = sshd.target();
  spec.name = name;
  spec.resources = { providers: ["ssh"], ssh: { host: t.host, port: t.port, user: t.user, key: t.privateKeyPath, python: PYTHON, ...(o.cleanup && { cleanup: true }) } };
  Object.assign(spec.workload.sae, { tokens: o.tokens, batch_size: 512, save_every_steps: 4, log_every: 1, warmup_steps: 2, device: o.device });
  spec.workload.sae.dataset = { ...spec.workload.sae.dataset, path: join(ROOT, "examples", spec.workload.sae.dataset.path), subset_size: 60 };
  spec.workload.probe = { data: { seed: 0, train: 120, val: 40, test: 80 }, epochs: 3, systems: ["sae"] };
  const p = join(home, `${name}.yaml`);
  writeFileSync(p, stringify(spec));
  return p;
}

const remoteJob = (id: string) => join(sshd.home, "kiln", "jobs", id);
const markers = () => (existsSync(join(sshd.home, ".kiln", "machines")) ? readdirSync(join(sshd.home, ".kiln", "machines")) : []);

function ledgerView(id: string) {
  const l = Ledger.open(join(env["KILN_HOME"]!, "ledger.db"));
  try {
    const machines = l.listMachines(id);
    return { job: l.getJob(id)!, machines, artifacts: l.listArtifacts(id), events: l.listEvents(id) };
  } finally {
    l.close();
  }
}

/** Train lines' steps in a metrics file. */
const trainSteps = (file: string): number[] =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { kind: string; step?: number })
    .filter((m) => m.kind === "train")
    .map((m) => m.step!);

describe.skipIf(!existsSync(PYTHON) || !sshdAvailable)("kiln run on provider ssh (loopback sshd, real SAE engine)", () => {
  it("runs the demo job end to end from the spec alone, verifies the artifacts, cleans up the host, costs nothing", async () => {
    sshd = await startSshd();
    const specPath = writeSpec("ssh-demo", { tokens: 4096, device: "cpu", cleanup: true });
    const io = captureIo();
    const code = await main(["run", specPath], io, { env, cwd: home });
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    const id = ID.exec(io.stdout)![1]!;
    expect(io.stdout).toContain(`on your host ${sshd.user}@127.0.0.1:${sshd.port} (provider ssh)`);
    expect(io.stdout).toMatch(/shipped the job: \d+\.\d MB bundle, \d+ files, secret-scanned, verified on arrival/);
    // The same progress line as a local run, then the end state.
    expect(io.stdout).toMatch(/step \d+/);
    expect(io.stdout).toMatch(new RegExp(`job ssh-demo \\(${id}\\) succeeded · cost \\$0\\.0000`));
    const v = ledgerView(id);
    expect(v.job.state).toBe("succeeded");
    expect(v.machines.map((m) => [m.provider, m.state, m.price_per_hour])).toEqual([["ssh", "terminated", 0]]);
    const jobDir = join(env["KILN_HOME"]!, "jobs", id);
    const paths = v.artifacts.map((a) => a.path);
    expect(v.artifacts.every((a) => a.verified_at !== null)).toBe(true);
    expect(paths.filter((p) => !existsSync(join(jobDir, "outputs", p)))).toEqual([]);
    expect(paths.some((p) => p.startsWith("sae/") && p.endsWith(".safetensors"))).toBe(true);
    expect(paths.some((p) => p.startsWith("probe/"))).toBe(true);
    // Asked for: the job directory on the host is gone, and so is the registration marker.
    expect(v.events.some((e) => e.kind === "cleanup")).toBe(true);
    expect(existsSync(remoteJob(id))).toBe(false);
    expect(markers()).toEqual([]);
    // The same report as a local run, from the pulled metrics.
    expect(io.stdout).toContain(`report: ${join(jobDir, "report.md")}`);
    expect(readFileSync(join(jobDir, "report.md"), "utf8")).toMatch(/Ran on \*\*ssh\*\*/);
  }, 480_000);

  it("keeps training when SSH drops mid-run; the synced metrics have no gaps or duplicates", async () => {
    sshd = await startSshd();
    const specPath = writeSpec("ssh-drop", { tokens: 16384, device: "cpu" });
    const io = captureIo();
    const run = main(["run", specPath, "--provider", "ssh"], io, { env, cwd: home });
    // Wait for training on the host (its own metrics file), then cut every SSH connection.
    const deadline = Date.now() + 300_000;
    let remoteMetrics: string | undefined;
    let dropped = 0;
    while (Date.now() < deadline) {
      const id = ID.exec(io.stdout)?.[1];
      const f = id && join(remoteJob(id), "job", "outputs", "sae", "metrics.jsonl");
      if (f && existsSync(f) && trainSteps(f).length >= 2) {
        remoteMetrics = f;
        dropped = await sshd.dropConnections();
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(remoteMetrics).toBeDefined();
    expect(dropped).toBeGreaterThan(0);
    const stepsAtDrop = trainSteps(remoteMetrics!).length;
    const code = await run;
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    const id = ID.exec(io.stdout)![1]!;
    const v = ledgerView(id);
    expect(v.job.state).toBe("succeeded");
    // The run went on past the drop, and the local copy is the host's file, byte for byte.
    const local = join(env["KILN_HOME"]!, "jobs", id, "outputs", "sae", "metrics.jsonl");
    const steps = trainSteps(local);
    expect(steps.length).toBeGreaterThan(stepsAtDrop);
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => steps[0]! + i));
    expect(readFileSync(local, "utf8")).toBe(readFileSync(remoteMetrics!, "utf8"));
    // No cleanup asked: the job directory stays on the host; the registration is gone.
    expect(existsSync(remoteJob(id))).toBe(true);
    // The local dataset was shipped in the bundle, and the engine read the host's copy.
    const shippedData = join(remoteJob(id), "job", "data", "chat-sample.jsonl");
    expect(readFileSync(shippedData, "utf8")).toBe(readFileSync(join(ROOT, "examples", "data", "chat-sample.jsonl"), "utf8"));
    expect(readFileSync(join(remoteJob(id), "job", "sae.yaml"), "utf8")).toContain(`path: ${shippedData}`);
    expect(markers()).toEqual([]);
    // The driver saved how to reach the host: `kiln logs`, `kiln pull` and `kiln ssh` use it.
    const logs = captureIo();
    expect(await main(["logs", id, "--step", "train"], logs, { env, cwd: home })).toBe(0);
    expect(logs.stdout).toBe(`==> train.log <==\n${readFileSync(join(remoteJob(id), "job", "logs", "train.log"), "utf8")}`);
    const pull = captureIo();
    expect(await main(["pull", id], pull, { env, cwd: home })).toBe(0);
    expect(pull.stdout).toMatch(/All \d+ files verified/);
    const cfg = captureIo();
    expect(await main(["ssh", id, "--print-config"], cfg, { env, cwd: home })).toBe(0);
    expect(cfg.stdout).toContain("Host kiln-ssh-drop\n");
    expect(cfg.stdout).toContain(`HostKeyAlias [127.0.0.1]:${sshd.port}\n`);
  }, 480_000);

  it("stops before training when a checklist item fails, with the runbook's advice", async () => {
    sshd = await startSshd();
    // A GPU job on a host whose driver does not answer.
    sshd.installCommand("nvidia-smi", "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\" >&2\nexit 9\n");
    const specPath = writeSpec("ssh-nogpu", { tokens: 4096, device: "cuda" });
    const io = captureIo();
    const code = await main(["run", specPath], io, { env, cwd: home });
    expect(code).toBe(1);
    const id = ID.exec(io.stdout)![1]!;
    expect(io.stdout).toMatch(new RegExp(`job ssh-nogpu \\(${id}\\) failed · cost \\$0\\.0000`));
    expect(io.stderr).toMatch(/nothing was started/);
    expect(io.stderr).toMatch(/→ .*driver/i);
    const v = ledgerView(id);
    expect(v.job.state).toBe("failed");
    expect(v.events.some((e) => e.kind === "run_started")).toBe(false);
    // Nothing shipped or started on the host, and it is unregistered.
    expect(existsSync(join(remoteJob(id), "run"))).toBe(false);
    expect(existsSync(join(remoteJob(id), "job"))).toBe(false);
    expect(markers()).toEqual([]);
    expect(v.machines.map((m) => m.state)).toEqual(["terminated"]);
  }, 120_000);
});

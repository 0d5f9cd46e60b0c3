// Remote setup on an ssh host WITHOUT resources.ssh.python, over a real loopback sshd, through the same
// calls the driver makes (shipJob with the real workload/, then setupJobPython): Kiln finds python3 on
// the host, builds the job's venv keeping the host's torch (torch>=2.4 is already there, as on Lambda
// Stack) instead of reinstalling it, and a second job reuses the venv. Also: the staged job is
// secret-scanned before upload, with the spec's bundle.allow_secrets as the allow-list.
//
// The host: `python3` on its PATH is the base interpreter of this repo's .venv, and the .venv's packages
// (minus its editable kiln-sae, which a host does not have) are visible system-wide through PYTHONPATH: how a
// host with a system-wide torch looks to a new venv made with --system-site-packages. pip runs with no
// index and no build isolation, so nothing is downloaded.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { UserError } from "../../src/base/errors.js";
import { nullLogger } from "../../src/base/logger.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { bundleDriver } from "../../src/core/lifecycle/testing/driver-bundle.js";
import { requireHostPythonReady } from "../../src/remote/setup/index.js";
import { Ledger } from "../../src/store/index.js";
import { remotePaths, setupJobPython, shipJob } from "../../src/core/lifecycle/remote-job.js";
import { SshConnection } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { type TestSshd, sshdAvailable, startSshd } from "../../src/remote/ssh/loopback-sshd.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
let home: string;
let sshd: TestSshd;
let conn: SshConnection;

beforeAll(async () => {
  if (!existsSync(VENV_PYTHON) || !sshdAvailable) return;
  home = mkdtempSync(join(tmpdir(), "kiln-sshsetup-"));
  sshd = await startSshd();
  const site = execFileSync(VENV_PYTHON, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8" }).trim();
  const system = join(home, "system-site-packages");
  mkdirSync(system);
  for (const f of readdirSync(site)) if (!/kiln|^__editable__/i.test(f)) symlinkSync(join(site, f), join(system, f));
  // The .venv's base interpreter: no kiln-sae of its own, torch only through PYTHONPATH.
  const basePython = execFileSync(VENV_PYTHON, ["-c", "import sys; print(sys._base_executable)"], { encoding: "utf8" }).trim();
  sshd.installCommand("python3", `#!/bin/sh\nexec ${basePython} "$@"\n`);
  // PIP_NO_BUILD_ISOLATION=0 is pip's spelling of --no-build-isolation (its "no-" options read inverted).
  sshd.setEnv({ PYTHONPATH: system, PIP_NO_INDEX: "1", PIP_NO_BUILD_ISOLATION: "0" });
  conn = await SshConnection.open({ host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey }, { knownHosts: new KnownHosts(join(home, "known_hosts")), timeoutMs: 30_000 });
});
afterAll(async () => {
  conn?.close();
  await sshd?.cleanup();
  if (home) rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
});

/** Ship a (tiny) staged job plus the real workload/ to the host, as the driver does. */
async function ship(jobId: string) {
  const stage = join(home, jobId, "stage");
  mkdirSync(stage, { recursive: true });
  writeFileSync(join(stage, "kiln-job.sh"), "#!/bin/sh\necho hi\n");
  const paths = remotePaths(sshd.home, jobId);
  const shipped = await shipJob(conn, { stageDir: stage, bundleDir: join(home, jobId, "bundles"), paths, signal: AbortSignal.timeout(120_000), logger: nullLogger, workloadDir: join(ROOT, "workload") });
  return { paths, shipped };
}

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("shipping and remote setup on an ssh host without resources.ssh.python (loopback sshd)", () => {
  it("builds the job's venv with the host's python3, keeps the host's torch, and reuses the venv for the next job", async () => {
    const a = await ship("20261128-000001-aaaa");
    expect(a.shipped.requirementsHash).toMatch(/^[0-9a-f]{64}$/);
    const t0 = Date.now();
    const pyA = await setupJobPython(conn, { home: sshd.home, paths: a.paths, requirementsHash: a.shipped.requirementsHash!, signal: AbortSignal.timeout(300_000), logger: nullLogger });
    const coldS = (Date.now() - t0) / 1000;
    // The venv lives under the host's ~/.kiln/venvs, keyed by the requirements.
    expect(pyA.startsWith(join(sshd.home, ".kiln", "venvs", "kiln-"))).toBe(true);
    const venv = resolve(pyA, "..", "..");
    // torch was kept, not reinstalled: the venv has none of its own, and imports the host's.
    const sitePackages = execFileSync(pyA, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8" }).trim();
    expect(readdirSync(sitePackages).filter((f) => /^torch/.test(f))).toEqual([]);
    // What the step script runs: job/env.sh puts the venv first on PATH; `python` imports the job's own
    // copy of the workload (via the venv's .pth) and the host's torch.
    const probe = await conn.run(["sh", "-c", '. "$1/env.sh" && python -c "import kiln_sae, torch, sys; print(sys.executable); print(kiln_sae.__file__); print(torch.__version__)"', "sh", a.paths.job]);
    expect(probe.stderr).toBe("");
    const [exe, sae, torchVersion] = probe.stdout.trim().split("\n");
    expect(exe).toBe(pyA);
    expect(sae).toBe(join(a.paths.base, "workload", "kiln_sae", "__init__.py"));
    expect(torchVersion).toBe(execFileSync(VENV_PYTHON, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" }).trim());

    // A second job with the same requirements: the same venv, reused (no venv, no pip), its own workload copy.
    const b = await ship("20261128-000002-bbbb");
    const t1 = Date.now();
    const pyB = await setupJobPython(conn, { home: sshd.home, paths: b.paths, requirementsHash: b.shipped.requirementsHash!, signal: AbortSignal.timeout(120_000), logger: nullLogger });
    const warmS = (Date.now() - t1) / 1000;
    expect(pyB).toBe(pyA);
    expect(readdirSync(resolve(venv, ".."))).toEqual([venv.split("/").at(-1)]);
    const probeB = await conn.run(["sh", "-c", '. "$1/env.sh" && python -c "import kiln_sae; print(kiln_sae.__file__)"', "sh", b.paths.job]);
    expect(probeB.stdout.trim()).toBe(join(b.paths.base, "workload", "kiln_sae", "__init__.py"));
    expect(warmS).toBeLessThan(coldS);
    // The shared venv's .pth now names job B's copy; job A still runs its own.
    const probeA = await conn.run(["sh", "-c", '. "$1/env.sh" && python -c "import kiln_sae; print(kiln_sae.__file__)"', "sh", a.paths.job]);
    expect(probeA.stdout.trim()).toBe(join(a.paths.base, "workload", "kiln_sae", "__init__.py"));
    console.log(`remote setup over loopback ssh (s): cold ${coldS.toFixed(1)}, warm ${warmS.toFixed(1)}`);
  }, 300_000);

  it("refuses to ship a staged file holding a secret unless the spec's bundle.allow_secrets lists it", async () => {
    const stage = join(home, "secret-job", "stage");
    mkdirSync(join(stage, "data"), { recursive: true });
    writeFileSync(join(stage, "kiln-job.sh"), "#!/bin/sh\necho hi\n");
    writeFileSync(join(stage, "data", "chats.jsonl"), `{"text": "my token is ${"hf"}_${"Q7cWm2ZkX9pLr4TbV8nYs3JdF6gHa1KeUo"}"}\n`);
    const paths = remotePaths(sshd.home, "20261128-000003-cccc");
    const ship = (allowSecretsIn?: string[]) => shipJob(conn, { stageDir: stage, bundleDir: join(home, "secret-job", "bundles"), paths, signal: AbortSignal.timeout(60_000), logger: nullLogger, ...(allowSecretsIn && { allowSecretsIn }) });
    const refused = await ship().catch((e: unknown) => e);
    expect(String((refused as Error).message)).toMatch(/data\/chats\.jsonl:1 .*huggingface-token/);
    expect(existsSync(paths.base)).toBe(false);
    const shipped = await ship(["data/chats.jsonl"]);
    expect(shipped.files).toBe(2);
    expect(existsSync(join(paths.job, "data", "chats.jsonl"))).toBe(true);
  }, 60_000);

  it("resources.ssh.python lacking torch is refused after shipping, naming what to install", async () => {
    const a = await ship("20261128-000004-dddd");
    const err = await requireHostPythonReady(conn, { python: "/usr/bin/python3", workloadDir: `${a.paths.base}/workload`, minTorch: "2.4", needCuda: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(/\/usr\/bin\/python3 on .* has no torch/);
    expect((err as UserError).hint).toMatch(/-m pip install 'torch>=2.4'/);
    // This repo's interpreter has everything; the shipped copy is what it imports.
    expect(await requireHostPythonReady(conn, { python: VENV_PYTHON, workloadDir: `${a.paths.base}/workload`, minTorch: "2.4", needCuda: false })).toMatchObject({ workload: "0.1.0" });
  }, 60_000);

  it("kiln run without any python setting: verified, shipped, set up (the venv above, warm), trained, pulled", async () => {
    const kilnHome = join(home, "kiln");
    const env = { ...process.env, KILN_HOME: kilnHome, KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(), KILN_FOLLOW_INTERVAL_MS: "500", KILN_CLOUD_POLL_MS: "1000", HF_HUB_OFFLINE: "1" };
    const spec = parse(readFileSync(join(ROOT, "examples", "sae-pii-local.yaml"), "utf8"));
    const t = sshd.target();
    spec.name = "ssh-venv";
    spec.resources = { providers: ["ssh"], ssh: { host: t.host, port: t.port, user: t.user, key: t.privateKeyPath } };
    Object.assign(spec.workload.sae, { tokens: 4096, batch_size: 512, save_every_steps: 4, log_every: 1, warmup_steps: 2, device: "cpu" });
    spec.workload.sae.dataset = { ...spec.workload.sae.dataset, path: join(ROOT, "examples", spec.workload.sae.dataset.path), subset_size: 60 };
    spec.workload.probe = { data: { seed: 0, train: 120, val: 40, test: 80 }, epochs: 3, systems: ["sae"] };
    const specPath = join(home, "ssh-venv.yaml");
    writeFileSync(specPath, stringify(spec));
    const io = captureIo();
    const code = await main(["run", specPath], io, { env, cwd: home });
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    const id = /\((\d{8}-\d{6}-[0-9a-f]{4})\)/.exec(io.stdout)![1]!;
    const l = Ledger.open(join(kilnHome, "ledger.db"));
    try {
      expect(l.getJob(id)!.state).toBe("succeeded");
      // The checklist passed before setup (the workload is not there yet), then setup reused the venv.
      expect(l.listEvents(id, { kind: "setup" }).map((e) => e.reason)).toEqual([expect.stringContaining(join(sshd.home, ".kiln", "venvs", "kiln-"))]);
      expect(l.listArtifacts(id).some((a) => a.path.startsWith("sae/") && a.path.endsWith(".safetensors"))).toBe(true);
    } finally {
      l.close();
    }
    // The steps ran with the venv's python, which imported the job's own copy of the workload.
    const envSh = readFileSync(join(sshd.home, "kiln", "jobs", id, "job", "env.sh"), "utf8");
    expect(envSh).toContain(`${join(sshd.home, ".kiln", "venvs", "kiln-")}`);
    expect(envSh).toContain(join(sshd.home, "kiln", "jobs", id, "workload"));
    expect(readdirSync(join(sshd.home, ".kiln", "venvs"))).toHaveLength(1);
  }, 480_000);
});

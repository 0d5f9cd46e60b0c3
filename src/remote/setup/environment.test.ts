// Remote setup through localExec with real processes: a real python3 builds a real venv and pip installs
// a small stand-in workload from a temp dir (pip's configured index supplies setuptools for the build). The stand-in carries a stub `torch`
// module next to kiln_sae, because the real torch is 800 MB and setup only needs to see a version.
// The "no suitable Python" path uses the fake python3 from test/fixtures/fake-tools.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFile } from "node:fs/promises";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { nullLogger } from "../../base/logger.js";
import { type Exec, localExec } from "../exec.js";
import { SshConnection } from "../ssh/connection.js";
import { KnownHosts } from "../ssh/known-hosts.js";
import { uploadFile } from "../ssh/sftp.js";
import { startSshd, sshdAvailable } from "../ssh/loopback-sshd.js";
import { detectMachine, lockPythons, parseOsRelease, REMOTE_LOCK, requirementsHashOf, setupRemoteEnvironment, shipJob, torchReinstallCommand, torchWheelFor, versionAtLeast } from "./index.js";

const FAKE_TOOLS = join(import.meta.dirname, "..", "..", "..", "test", "fixtures", "fake-tools");
let base: string;
let workloadDir: string;
// An absolute interpreter, so the SSH session (whose PATH differs) builds the same venv key.
const pythonPath = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();

function makeWorkload(dir: string, dependencies: string[] = []) {
  mkdirSync(join(dir, "kiln_sae"), { recursive: true });
  mkdirSync(join(dir, "torch"), { recursive: true });
  const deps = dependencies.length ? `dependencies = [${dependencies.map((d) => JSON.stringify(d)).join(", ")}]\n` : "";
  writeFileSync(
    join(dir, "pyproject.toml"),
    `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "kiln-sae"\nversion = "0.1.0"\n${deps}\n[tool.setuptools]\npackages = ["kiln_sae"]\n`,
  );
  writeFileSync(join(dir, "kiln_sae", "__init__.py"), '__version__ = "0.1.0"\n');
  writeFileSync(
    join(dir, "torch", "__init__.py"),
    '__version__ = "2.5.1+cpu"\nclass version:\n    cuda = None\nclass cuda:\n    @staticmethod\n    def is_available():\n        return False\n',
  );
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "kiln-setup-"));
  workloadDir = join(base, "bundle", "workload");
  makeWorkload(workloadDir);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("setupRemoteEnvironment", () => {
  const opts = () => ({
    workloadDir,
    venvsDir: join(base, "venvs"),
    // The real key a bundle gives (sha256 of workload/pyproject.toml), so shipJob below finds this venv warm.
    requirementsHash: createHash("sha256").update(readFileSync(join(workloadDir, "pyproject.toml"))).digest("hex"),
    python: pythonPath,
    pipArgs: [] as string[],
    pipAttempts: 1,
  });

  it("creates a venv, installs the workload, then reuses it", async () => {
    const cold = await setupRemoteEnvironment(localExec, opts());
    expect(cold.venv.reused).toBe(false);
    expect(cold.venv.path.startsWith(join(base, "venvs", "kiln-"))).toBe(true);
    expect(cold.workload.version).toBe("0.1.0");
    expect(cold.torch).toMatchObject({ version: "2.5.1+cpu", cudaAvailable: false });
    expect(versionAtLeast(cold.basePython.version, "3.10")).toBe(true);

    const warm = await setupRemoteEnvironment(localExec, opts());
    expect(warm.venv).toEqual({ ...cold.venv, reused: true });
    // A warm start is detection plus two short commands: far below the cold path's venv + pip.
    expect(warm.seconds.install).toBeLessThan(cold.seconds.install + cold.seconds.venv);
    console.log(`setup timings (s): cold ${JSON.stringify(cold.seconds)} warm ${JSON.stringify(warm.seconds)}`);
    // Not exercised here: the rebuild of a venv without its ready-marker (a second cold setup, ~30 s on
    // this shared 2-core machine, for a one-line condition).
  }, 180_000);

  it("ships a job: bundle → upload → unpack (checked) → setup, warm after the first setup", async () => {
    const workdir = join(base, "job-src");
    mkdirSync(workdir, { recursive: true });
    writeFileSync(join(workdir, "job.yaml"), "name: shipped\n");
    const shipped = await shipJob(localExec, {
      bundle: { workdir, extraDirs: [workloadDir], outDir: join(base, "bundles") },
      remoteDir: join(base, "machine", "jobs", "j1"),
      venvsDir: join(base, "venvs"),
      upload: async (local, remote) => {
        mkdirSync(join(remote, ".."), { recursive: true });
        await copyFile(local, remote);
      },
      setup: { python: pythonPath, pipArgs: [], pipAttempts: 1 },
    });
    expect(shipped.env.venv.reused).toBe(true);
    expect(readFileSync(join(shipped.jobDir, "job.yaml"), "utf8")).toBe("name: shipped\n");
    expect(shipped.workloadDir).toBe(join(base, "machine", "jobs", "j1", "bundle", "workload"));
    console.log(`ship timings (s): ${JSON.stringify(shipped.seconds)}`);
  }, 120_000);

  // The same machine over a real sshd (commands run as this user, so the venv built above is reachable):
  // SFTP upload, unpack and a warm setup, which is what a second job on a cloud machine costs.
  it.skipIf(!sshdAvailable)("ships over real SSH with an SFTP upload", async () => {
    const sshd = await startSshd();
    const conn = await SshConnection.open(
      { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey },
      { knownHosts: new KnownHosts(join(base, "known_hosts")), timeoutMs: 10_000 },
    );
    try {
      const workdir = join(base, "job-ssh");
      mkdirSync(workdir, { recursive: true });
      writeFileSync(join(workdir, "job.yaml"), "name: over-ssh\n");
      const shipped = await shipJob(conn, {
        bundle: { workdir, extraDirs: [workloadDir], outDir: join(base, "bundles") },
        remoteDir: "kiln/jobs/j2",
        venvsDir: join(base, "venvs"),
        upload: async (local, remote) => {
          await uploadFile(conn, local, remote);
        },
        setup: { python: pythonPath, pipArgs: [], pipAttempts: 1 },
      });
      expect(shipped.jobDir).toBe(join(sshd.home, "kiln", "jobs", "j2", "bundle", "job"));
      expect(shipped.env.venv.reused).toBe(true);
      expect(shipped.env.where).toBe(conn.where);
      console.log(`ship over ssh (s): ${JSON.stringify(shipped.seconds)}`);
    } finally {
      conn.close();
      await sshd.cleanup();
    }
  }, 120_000);

  it("refuses a machine without Python ≥ 3.10, saying what to install", async () => {
    const bin = mkdtempSync(join(base, "bin-"));
    symlinkSync(join(FAKE_TOOLS, "python3"), join(bin, "python3"));
    const env = { PATH: `${bin}:/usr/bin:/bin`, FAKE_PYTHON_FACTS: join(FAKE_TOOLS, "python-facts", "old-python.json") };
    const exec: Exec = { where: "fake", run: (argv, o) => localExec.run(argv, { ...o, env: { ...o?.env, ...env } }) };
    const err = await setupRemoteEnvironment(exec, { ...opts(), python: "python3" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe("no Python ≥ 3.10 on fake (python3 is Python 3.8.10 (need ≥ 3.10))");
    expect((err as UserError).hint).toContain("python3-venv");
  });
});

// The remote lock: a stand-in workload that depends on `six>=1.10`, with a constraints-remote.txt next to it.
describe("setupRemoteEnvironment with the workload's lock", () => {
  const pythonMinor = execFileSync(pythonPath, ["-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"], { encoding: "utf8" }).trim();
  const lockedWorkload = (name: string, lock: string) => {
    const dir = join(base, name, "workload");
    makeWorkload(dir, ["six>=1.10"]);
    writeFileSync(join(dir, REMOTE_LOCK), lock);
    return dir;
  };
  const run = (dir: string, logger = nullLogger) =>
    setupRemoteEnvironment(localExec, {
      workloadDir: dir,
      venvsDir: join(base, "venvs"),
      requirementsHash: createHash("sha256").update(readFileSync(join(dir, "pyproject.toml"))).update(readFileSync(join(dir, REMOTE_LOCK))).digest("hex"),
      python: pythonPath,
      pipAttempts: 1,
      logger,
    });
  const sixIn = (python: string) => execFileSync(python, ["-c", "import six; print(six.__version__)"], { encoding: "utf8" }).trim();

  it("installs the lock's versions when it covers the machine's Python", async () => {
    // Not the newest six (1.17.0): only the lock can have chosen it.
    const dir = lockedWorkload("locked", `# python-versions: 3.9 ${pythonMinor}\nsix==1.16.0 ; python_version == "${pythonMinor}"\nsix==1.15.0 ; python_version == "3.9"\n`);
    const env = await run(dir);
    expect(env.lock).toEqual({ file: join(dir, REMOTE_LOCK), covered: true, pythons: ["3.9", pythonMinor] });
    expect(sixIn(env.venv.python)).toBe("1.16.0");
  }, 180_000);

  it("installs the declared ranges, with a warning, when the lock does not cover the machine's Python", async () => {
    // A pin that cannot install: had the lock been applied, pip would have failed.
    const dir = lockedWorkload("other-python", "# python-versions: 3.99\nsix==0.0.1\n");
    const warnings: string[] = [];
    const env = await run(dir, { ...nullLogger, warn: (m: string) => warnings.push(m) });
    expect(env.lock).toEqual({ file: join(dir, REMOTE_LOCK), covered: false, pythons: ["3.99"] });
    expect(versionAtLeast(sixIn(env.venv.python), "1.10")).toBe(true);
    expect(warnings.join("\n")).toContain(`the workload's lock pins Python 3.99, not ${pythonMinor}`);
  }, 180_000);

  it("reads the Pythons a lock covers from its header", () => {
    expect(lockPythons("# What…\n# python-versions: 3.10 3.11 3.12\nsix==1\n")).toEqual(["3.10", "3.11", "3.12"]);
    expect(lockPythons("six==1\n")).toEqual([]);
  });

  it("keys the venv by the lock as well as pyproject.toml", async () => {
    const project = { path: "workload/pyproject.toml", sha256: "a".repeat(64), size: 1, mode: 0o644 };
    const lock = { path: `workload/${REMOTE_LOCK}`, sha256: "b".repeat(64), size: 1, mode: 0o644 };
    const bundleWith = (files: (typeof project)[]) => ({ manifest: { files } }) as unknown as Parameters<typeof requirementsHashOf>[0];
    const withLock = requirementsHashOf(bundleWith([project, lock]));
    expect(withLock).toMatch(/^[0-9a-f]{64}$/);
    expect(withLock).not.toBe(requirementsHashOf(bundleWith([project, { ...lock, sha256: "c".repeat(64) }])));
    expect(requirementsHashOf(bundleWith([project]))).toBe(project.sha256);
    expect(requirementsHashOf(bundleWith([lock]))).toBeUndefined();
  });
});

describe("the repository's own lock", () => {
  const workload = join(import.meta.dirname, "..", "..", "..", "workload");
  it("pins the rented machine's install without torch, for the Pythons it names", () => {
    const text = readFileSync(join(workload, REMOTE_LOCK), "utf8");
    const pythons = lockPythons(text);
    expect(pythons).toContain("3.10");
    expect(pythons).toContain("3.12");
    const names = text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("==")[0] ?? "");
    for (const name of ["transformers", "numpy", "safetensors", "pyyaml", "faker"]) expect(names).toContain(name);
    // The machine's CUDA torch stays: neither torch nor what only torch needs is pinned for it.
    for (const name of ["torch", "sympy", "triton"]) expect(names).not.toContain(name);
    expect(names.some((n) => n.startsWith("nvidia-"))).toBe(false);
  });
});

describe("detection helpers", () => {
  it("reads this machine's OS and Python", async () => {
    const m = await detectMachine(localExec, { pythonCandidates: ["python3"] });
    expect(m.os?.id).toMatch(/^[a-z]+$/);
    expect(m.python?.path).toBe("python3");
  }, 60_000);

  it("parses os-release", () => {
    expect(parseOsRelease('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nPRETTY_NAME="Ubuntu 22.04.3 LTS"\n')).toEqual({
      id: "ubuntu",
      versionId: "22.04",
      prettyName: "Ubuntu 22.04.3 LTS",
    });
  });

  it("picks the newest torch wheel the driver can run, and says how to install it", () => {
    expect(torchWheelFor("12.2")).toBe("12.1");
    expect(torchWheelFor("12.4")).toBe("12.4");
    expect(torchWheelFor("11.4")).toBeUndefined();
    expect(torchReinstallCommand("python3", "2.4", "12.2")).toBe(
      "python3 -m pip install --upgrade --force-reinstall 'torch>=2.4' --index-url https://download.pytorch.org/whl/cu121",
    );
    expect(versionAtLeast("2.5.0a0+git123", "2.4")).toBe(true);
    expect(versionAtLeast("2.0.1+cu118", "2.4")).toBe(false);
  });
});

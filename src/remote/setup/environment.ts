/**
 * Remote setup: make the unpacked workload runnable on a machine, fast when it has been done before.
 *
 * - One venv per requirements key (hash of the workload's pyproject.toml, the Python version and the
 *   torch decision) under `venvsDir`; a venv is reused only when its ready-marker holds that key, so a
 *   half-built venv from an interrupted setup is rebuilt, never trusted.
 * - A system torch that satisfies `torch>=minTorch` (and can use the GPU when there is one) is kept via
 *   `--system-site-packages`: Lambda Stack ships it, and reinstalling costs minutes and gigabytes.
 * - Dependencies are installed once, with retries, pinned by the workload's remote lock
 *   (`constraints-remote.txt`, see scripts/lock-python.py) when it covers the machine's Python: a cloud run
 *   gets the versions we tested, not whatever is newest that day. torch is not in it (the machine's own CUDA
 *   torch is kept when it satisfies the range). A Python the lock does not cover installs the declared
 *   ranges, and the result says so (`lock.covered: false`).
 * - The workload's own code is then put on the venv's
 *   path with a `.pth` file pointing at this job's copy, so a warm start is one command, not a pip run.
 *
 * @example
 *   const env = await setupRemoteEnvironment(exec, { workloadDir: "/home/ubuntu/kiln/j1/workload",
 *     venvsDir: "/home/ubuntu/.kiln/venvs", requirementsHash: manifestSha("workload/pyproject.toml") });
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { UserError } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { Exec } from "../exec.js";
import { type DetectedMachine, detectMachine, MIN_PYTHON, type OsInfo } from "./detect.js";
import { pipInstall } from "./pip.js";
import { probePython } from "./python-facts.js";
import { torchWheelFor, versionAtLeast, wheelIndexUrl } from "./versions.js";

export interface SetupOptions {
  /** Absolute path of the unpacked `workload/` directory on the machine. */
  workloadDir: string;
  /** Absolute directory holding Kiln's venvs on the machine. */
  venvsDir: string;
  /** sha256 of the workload's requirements (the manifest's entry for workload/pyproject.toml). */
  requirementsHash: string;
  /** Optional extras to install, e.g. ["pii"]. */
  extras?: readonly string[];
  minTorch?: string;
  /** Use this interpreter instead of searching python3/python3.x/python. */
  python?: string;
  /** Extra pip arguments (tests: ["--no-index", "--no-build-isolation"]). */
  pipArgs?: readonly string[];
  pipAttempts?: number;
  deadlineMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface RemoteEnvironment {
  where: string;
  os: OsInfo | undefined;
  /** The base interpreter the venv was made from. */
  basePython: { path: string; version: string };
  venv: { path: string; python: string; key: string; reused: boolean; systemSitePackages: boolean };
  cuda: { nvcc: string | undefined; driver: string | undefined };
  torch: { version: string; cuda: string | null; cudaAvailable: boolean; source: "system" | "venv" };
  workload: { version: string | null };
  /** The remote lock used for the install: `file` null when the bundle has none. */
  lock: { file: string | null; covered: boolean; pythons: string[] };
  seconds: { detect: number; venv: number; install: number; total: number };
}

/** The workload's lock for rented machines, next to its pyproject.toml (written by scripts/lock-python.py). */
export const REMOTE_LOCK = "constraints-remote.txt";

/** The Pythons a lock file pins, from its `# python-versions: 3.10 3.11 …` header line. */
export function lockPythons(lockText: string): string[] {
  const line = lockText.split("\n").find((l) => l.startsWith("# python-versions:"));
  return line ? line.slice("# python-versions:".length).trim().split(/\s+/).filter(Boolean) : [];
}

/** "3.10.12" → "3.10". */
const minorOf = (version: string) => version.split(".").slice(0, 2).join(".");

const MARKER = "kiln-ready.json";
const PTH = "kiln-workload.pth";

/** Keep the machine's torch when it is new enough, and CUDA-enabled where the driver has CUDA. */
export function keepSystemTorch(m: DetectedMachine, minTorch: string): boolean {
  const t = m.python?.facts.torch;
  if (!t || !versionAtLeast(t.version, minTorch)) return false;
  return m.driverCuda === undefined || t.cuda !== null;
}

export async function setupRemoteEnvironment(exec: Exec, opts: SetupOptions): Promise<RemoteEnvironment> {
  const logger = opts.logger ?? nullLogger;
  const minTorch = opts.minTorch ?? "2.4";
  const signal = opts.signal ? { signal: opts.signal } : {};
  const t0 = Date.now();
  const machine = await detectMachine(exec, { ...(opts.python ? { pythonCandidates: [opts.python] } : {}), ...signal });
  if (!machine.python) {
    throw new UserError(`no Python ≥ ${MIN_PYTHON} on ${exec.where}${machine.pythonRejected.length ? ` (${machine.pythonRejected.join("; ")})` : ""}`, {
      hint: "Install one on the machine (Debian/Ubuntu: sudo apt-get install -y python3 python3-venv) or set workload.python in the job spec.",
    });
  }
  const base = machine.python;
  const systemTorch = keepSystemTorch(machine, minTorch);
  const key = createHash("sha256")
    .update(`${opts.requirementsHash}\n${base.facts.python}\n${base.facts.executable}\n${systemTorch ? `system-torch ${base.facts.torch?.version}` : "own-torch"}\n${(opts.extras ?? []).join(",")}`)
    .digest("hex")
    .slice(0, 16);
  const venvPath = posix.join(opts.venvsDir, `kiln-${key}`);
  const venvPython = posix.join(venvPath, "bin", "python");
  const t1 = Date.now();

  const marker = await exec.run(["cat", posix.join(venvPath, MARKER)], { timeoutMs: 20_000, ...signal });
  const reused = marker.code === 0 && marker.stdout.includes(key);
  if (!reused) {
    logger.info(`setup: creating venv ${venvPath}${systemTorch ? ` (keeping system torch ${base.facts.torch?.version})` : ""}`);
    await mustRun(exec, ["rm", "-rf", venvPath], signal);
    await mustRun(exec, ["mkdir", "-p", opts.venvsDir], signal);
    const mk = await exec.run([base.path, "-m", "venv", ...(systemTorch ? ["--system-site-packages"] : []), venvPath], { timeoutMs: 180_000, ...signal });
    if (mk.code !== 0) {
      const out = `${mk.stdout}\n${mk.stderr}`;
      throw new UserError(`could not create a venv with ${base.path} on ${exec.where}: ${out.trim().split("\n").slice(-2).join(" ")}`, {
        hint: /ensurepip|venv/.test(out) ? "Install the venv module: sudo apt-get install -y python3-venv" : "Check the disk space and permissions of the venv directory.",
      });
    }
  }
  const t2 = Date.now();
  const lock = await readLock(exec, opts.workloadDir, base.facts.python, signal);
  if (lock.file && !lock.covered) {
    logger.warn(`setup: the workload's lock pins Python ${lock.pythons.join(", ")}, not ${minorOf(base.facts.python)} on ${exec.where}: installing the declared version ranges (untested versions)`);
  }
  if (!reused) {
    const extras = opts.extras?.length ? `[${opts.extras.join(",")}]` : "";
    const wheel = !systemTorch && machine.driverCuda ? torchWheelFor(machine.driverCuda) : undefined;
    const pin = lock.file && lock.covered ? ["-c", lock.file] : [];
    const extraArgs = [...(wheel ? ["--extra-index-url", wheelIndexUrl(wheel)] : []), ...pin, ...(opts.pipArgs ?? [])];
    await pipInstall(exec, venvPython, [`${opts.workloadDir}${extras}`], {
      extraArgs,
      attempts: opts.pipAttempts ?? 3,
      deadlineMs: opts.deadlineMs ?? 30 * 60_000,
      ...signal,
      logger,
    });
    // Dependencies stay; the package itself comes from the job's own copy via the .pth file below, so
    // the next job with the same requirements reuses this venv even when the workload code changed.
    await mustRun(exec, [venvPython, "-m", "pip", "uninstall", "--yes", "--disable-pip-version-check", "kiln-sae"], signal);
  }
  const sitePackages = await mustRun(exec, [venvPython, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], signal);
  await mustRun(exec, [venvPython, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2] + '\\n')", posix.join(sitePackages.trim(), PTH), opts.workloadDir], signal);
  if (!reused) await mustRun(exec, [venvPython, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", posix.join(venvPath, MARKER), JSON.stringify({ key })], signal);
  const t3 = Date.now();

  const after = await probePython(exec, venvPython, { workload: true, ...signal });
  if (after.kind !== "ok" || !after.facts.workload?.ok || !after.facts.torch) {
    const why = after.kind === "ok" ? (after.facts.workload?.error ?? after.facts.torch_error ?? "torch missing") : after.kind === "failed" ? after.message : "venv python missing";
    throw new UserError(`the workload does not import in ${venvPath} on ${exec.where}: ${why}`, {
      hint: `Delete the venv (rm -rf ${venvPath}) and run again; Kiln rebuilds it.`,
    });
  }
  const torch = after.facts.torch;
  return {
    where: exec.where,
    os: machine.os,
    basePython: { path: base.path, version: base.facts.python },
    venv: { path: venvPath, python: venvPython, key, reused, systemSitePackages: systemTorch },
    cuda: { nvcc: machine.nvcc, driver: machine.driverCuda },
    torch: { version: torch.version, cuda: torch.cuda, cudaAvailable: torch.cuda_available, source: systemTorch ? "system" : "venv" },
    workload: { version: after.facts.workload.version ?? null },
    lock,
    seconds: { detect: (t1 - t0) / 1000, venv: (t2 - t1) / 1000, install: (t3 - t2) / 1000, total: (Date.now() - t0) / 1000 },
  };
}

async function readLock(exec: Exec, workloadDir: string, python: string, signal: { signal?: AbortSignal }): Promise<RemoteEnvironment["lock"]> {
  const file = posix.join(workloadDir, REMOTE_LOCK);
  const r = await exec.run(["cat", file], { timeoutMs: 20_000, ...signal });
  if (r.code !== 0) return { file: null, covered: false, pythons: [] };
  const pythons = lockPythons(r.stdout);
  return { file, covered: pythons.includes(minorOf(python)), pythons };
}

async function mustRun(exec: Exec, argv: string[], signal: { signal?: AbortSignal }): Promise<string> {
  const r = await exec.run(argv, { timeoutMs: 120_000, ...signal });
  if (r.code !== 0) {
    throw new UserError(`\`${argv.join(" ")}\` failed on ${exec.where} (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-2).join(" ")}`);
  }
  return r.stdout;
}

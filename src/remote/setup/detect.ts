/**
 * What a machine already has, before Kiln changes anything: the OS (`/etc/os-release`), a Python ≥ 3.10,
 * the CUDA toolkit (nvcc) and the CUDA version the driver supports (nvidia-smi's banner), and any
 * system-wide PyTorch. Lambda Stack images ship torch, which setup keeps when it is new enough.
 */
import type { Exec } from "../exec.js";
import { type PythonFacts, probePython } from "./python-facts.js";
import { versionAtLeast } from "./versions.js";

export interface OsInfo {
  id: string;
  versionId: string;
  prettyName: string;
}

export interface DetectedMachine {
  os: OsInfo | undefined;
  /** The first interpreter ≥ minPython among the candidates, with what it reports. */
  python: { path: string; facts: PythonFacts } | undefined;
  /** Interpreters tried and why each was rejected. */
  pythonRejected: string[];
  /** Toolkit release from `nvcc --version`, if nvcc exists. */
  nvcc: string | undefined;
  /** Highest CUDA version the driver supports, from nvidia-smi's banner. */
  driverCuda: string | undefined;
}

export const MIN_PYTHON = "3.10";
export const PYTHON_CANDIDATES = ["python3", "python3.12", "python3.11", "python3.10", "python"] as const;
const SHORT_MS = 20_000;

/** Parse `/etc/os-release` (KEY=value, optionally quoted). */
export function parseOsRelease(text: string): OsInfo | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) kv.set(m[1]!, m[2]!.replace(/^["']|["']$/g, ""));
  }
  const id = kv.get("ID");
  if (id === undefined) return undefined;
  return { id, versionId: kv.get("VERSION_ID") ?? "", prettyName: kv.get("PRETTY_NAME") ?? id };
}

export const parseNvccRelease = (out: string): string | undefined => /release (\d+\.\d+)/.exec(out)?.[1];

export async function detectMachine(
  exec: Exec,
  opts: { pythonCandidates?: readonly string[]; signal?: AbortSignal } = {},
): Promise<DetectedMachine> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const osr = await exec.run(["cat", "/etc/os-release"], { timeoutMs: SHORT_MS, ...signal });
  const nvcc = await exec.run(["nvcc", "--version"], { timeoutMs: SHORT_MS, ...signal });
  const smi = await exec.run(["nvidia-smi"], { timeoutMs: SHORT_MS, ...signal }).catch(() => ({ code: 1, stdout: "", stderr: "" }));
  const pythonRejected: string[] = [];
  let python: DetectedMachine["python"];
  for (const candidate of opts.pythonCandidates ?? PYTHON_CANDIDATES) {
    const probe = await probePython(exec, candidate, signal);
    if (probe.kind === "missing") continue;
    if (probe.kind === "failed") {
      pythonRejected.push(probe.message);
      continue;
    }
    if (!versionAtLeast(probe.facts.python, MIN_PYTHON)) {
      pythonRejected.push(`${candidate} is Python ${probe.facts.python} (need ≥ ${MIN_PYTHON})`);
      continue;
    }
    python = { path: candidate, facts: probe.facts };
    break;
  }
  return {
    os: osr.code === 0 ? parseOsRelease(osr.stdout) : undefined,
    python,
    pythonRejected,
    nvcc: nvcc.code === 0 ? parseNvccRelease(nvcc.stdout) : undefined,
    driverCuda: smi.code === 0 ? /CUDA Version:\s*(\d+\.\d+)/.exec(smi.stdout)?.[1] : undefined,
  };
}

/**
 * The GPU probe: what GPUs a machine has, through any {@link Exec} (this computer or an SSH host), so
 * `kiln preflight`, the planner and the remote verification checklist share one reading of nvidia-smi.
 */
import { DeadlineError } from "../../base/errors.js";
import type { Exec } from "../../remote/exec.js";
import { type GpuInfo, QUERY_ARGV, adviceFor, parseCudaVersion, parseGpuQuery } from "./nvidia-smi.js";

export type GpuProbe =
  | { kind: "ok"; gpus: GpuInfo[]; cudaVersion?: string; driverVersion: string }
  /** nvidia-smi is not installed (command not found): no NVIDIA GPU usable here. */
  | { kind: "missing" }
  /** nvidia-smi exists but failed; `message` is its first line plus advice. */
  | { kind: "failed"; message: string };

// nvidia-smi can hang for tens of seconds while a wedged driver times out; bound it.
const PROBE_TIMEOUT_MS = 20_000;

/**
 * Probe the GPUs where `exec` runs.
 *
 * @example
 *   const probe = await probeGpus(localExec);
 *   if (probe.kind === "ok") probe.gpus[0]?.memoryFreeMiB;
 */
export async function probeGpus(exec: Exec, signal?: AbortSignal): Promise<GpuProbe> {
  const opts = { timeoutMs: PROBE_TIMEOUT_MS, ...(signal ? { signal } : {}) };
  // The banner (for the CUDA version) is asked at the same time as the query: nvidia-smi can take
  // hundreds of ms per call (no persistence daemon), and `kiln plan` waits for both. A failed banner
  // only means no CUDA version; a query that fails makes the banner moot.
  const bannerCall = exec.run(["nvidia-smi"], opts).catch(() => undefined);
  let query: Awaited<ReturnType<Exec["run"]>>;
  try {
    query = await exec.run(QUERY_ARGV, opts);
  } catch (e) {
    if (e instanceof DeadlineError) return { kind: "failed", message: `nvidia-smi did not answer within ${PROBE_TIMEOUT_MS / 1000} s; the driver may be wedged: reboot` };
    throw e;
  }
  if (query.code === 127) return { kind: "missing" };
  const output = `${query.stdout}\n${query.stderr}`.trim();
  if (query.code !== 0) return { kind: "failed", message: `${firstLine(output) || `nvidia-smi exited with code ${query.code}`} — ${adviceFor(output)}` };
  const parsed = parseGpuQuery(query.stdout);
  if ("badLine" in parsed) return { kind: "failed", message: `unexpected nvidia-smi output: "${parsed.badLine}"` };
  if (parsed.gpus.length === 0) return { kind: "failed", message: `nvidia-smi listed no GPUs — ${adviceFor("No devices were found")}` };
  const banner = await bannerCall;
  const cudaVersion = banner?.code === 0 ? parseCudaVersion(banner.stdout) : undefined;
  const driverVersion = parsed.gpus[0]!.driverVersion;
  return cudaVersion === undefined ? { kind: "ok", gpus: parsed.gpus, driverVersion } : { kind: "ok", gpus: parsed.gpus, cudaVersion, driverVersion };
}

const firstLine = (s: string) => s.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";

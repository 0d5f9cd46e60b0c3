/**
 * Verify a machine before a run: measure it through an {@link Exec} (this computer or an SSH host),
 * then evaluate the checklist. Four round trips in parallel (nvidia-smi via the shared GPU probe, one
 * Python facts script, df, nvcc) plus one more only when free VRAM is short (who holds it).
 *
 * @example
 *   const results = await verifyMachine(conn, need);           // for `kiln verify`: print them
 *   await requireMachineReady(conn, need, { logger });          // in the run flow: throws on any fail
 */
import type { Exec } from "../../remote/exec.js";
import { parseNvccRelease, probePython } from "../../remote/setup/index.js";
import type { Logger } from "../../base/logger.js";
import { nullLogger } from "../../base/logger.js";
import { probeGpus } from "../gpu/probe.js";
import { type ComputeApp, evaluateChecks, type MachineFacts } from "./checks.js";
import { checkHubAccess, type HubOptions } from "./hub.js";
import { type CheckResult, type MachineNeed, MachineNotReadyError } from "./types.js";

const SHORT_MS = 20_000;

export interface VerifyOptions {
  signal?: AbortSignal;
  logger?: Logger;
  /** Ask the Hugging Face Hub whether the base model is readable with this token (from the laptop). */
  hub?: Omit<HubOptions, "signal">;
}

/** Parse `df -Pk PATH`: the Available column (KiB) of the last line. */
export function parseDfAvailable(stdout: string): number | undefined {
  const last = stdout.trim().split("\n").at(-1)?.trim().split(/\s+/);
  const avail = last?.[3];
  return avail !== undefined && /^\d+$/.test(avail) ? Number(avail) * 1024 : undefined;
}

/** Parse `nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv[,noheader,nounits]`. */
export function parseComputeApps(stdout: string): ComputeApp[] {
  const apps: ComputeApp[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^\s*(\d+)\s*,\s*(.+?)\s*,\s*(\d+)(?:\s*MiB)?\s*$/.exec(line);
    if (m) apps.push({ pid: Number(m[1]), name: m[2]!, usedMiB: Number(m[3]) });
  }
  return apps;
}

export async function gatherFacts(exec: Exec, need: MachineNeed, opts: VerifyOptions = {}): Promise<MachineFacts> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const model = need.baseModel;
  const askHub = opts.hub !== undefined && model !== undefined && /^[\w.-]+\/[\w.-]+$/.test(model);
  const [hub, gpu, python, df, nvcc] = await Promise.all([
    askHub ? checkHubAccess(model, { ...opts.hub, ...signal }) : Promise.resolve(undefined),
    probeGpus(exec, opts.signal),
    probePython(exec, need.python, { workload: need.afterSetup, ...signal }),
    exec.run(["df", "-Pk", need.diskPath], { timeoutMs: SHORT_MS, ...signal }),
    exec.run(["nvcc", "--version"], { timeoutMs: SHORT_MS, ...signal }),
  ]);
  const availBytes = df.code === 0 ? parseDfAvailable(df.stdout) : undefined;
  const disk = availBytes !== undefined ? { availBytes } : { error: `df ${need.diskPath} failed: ${(df.stderr || df.stdout).trim().split("\n")[0] ?? `exit ${df.code}`}` };
  let computeApps: ComputeApp[] = [];
  const want = need.gpu;
  if (gpu.kind === "ok" && !("cpuOnly" in want)) {
    const short = gpu.gpus.some((g) => g.memoryFreeMiB < Math.max(want.minFreeVramGb * 1024, g.memoryTotalMiB * 0.9));
    if (short) {
      const apps = await exec.run(["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits"], { timeoutMs: SHORT_MS, ...signal });
      if (apps.code === 0) computeApps = parseComputeApps(apps.stdout);
    }
  }
  const facts: MachineFacts = { where: exec.where, gpu, python, disk, nvcc: nvcc.code === 0 ? parseNvccRelease(nvcc.stdout) : undefined, computeApps };
  if (hub) facts.hub = hub;
  return facts;
}

/** Measure the machine and evaluate every check. Never throws for a failed check. */
export async function verifyMachine(exec: Exec, need: MachineNeed, opts: VerifyOptions = {}): Promise<CheckResult[]> {
  const logger = opts.logger ?? nullLogger;
  const started = Date.now();
  const facts = await gatherFacts(exec, need, opts);
  const results = evaluateChecks(facts, need);
  logger.debug(`verify ${exec.where}: ${results.map((r) => `${r.id}=${r.status}`).join(" ")} in ${Date.now() - started} ms`);
  return results;
}

/** The run flow's gate: verify, log warnings, and throw {@link MachineNotReadyError} if any check failed. */
export async function requireMachineReady(exec: Exec, need: MachineNeed, opts: VerifyOptions = {}): Promise<CheckResult[]> {
  const logger = opts.logger ?? nullLogger;
  const results = await verifyMachine(exec, need, opts);
  for (const r of results.filter((x) => x.status === "warn")) logger.warn(`${r.title}: ${r.measured}${r.advice ? ` — ${r.advice}` : ""}`);
  if (results.some((r) => r.status === "fail")) throw new MachineNotReadyError(exec.where, results);
  return results;
}

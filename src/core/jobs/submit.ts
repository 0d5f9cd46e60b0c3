/**
 * `kiln run JOB.yaml`: validate the spec, create the job (ledger row + job dir + engine configs +
 * run.json), and start its detached supervisor. Local runs only for now: the spec must allow
 * `local`; cloud placement arrives with the provider issues through the same run file.
 */
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { localExec } from "../../remote/exec.js";
import { localPricePerHour } from "../cost/index.js";
import { UserError } from "../../base/errors.js";
import type { GpuProbe } from "../gpu/index.js";
import { canonicalGpuName } from "../gpu/names.js";
import type { KilnPaths } from "../home.js";
import { jobLayout, type JobLayout, newJobId, type RunFile, writeRunFile } from "../job/index.js";
import { buildPipeline, choosePython } from "../pipeline/index.js";
import { planJobFile } from "../planner/index.js";
import { loadJobSpec } from "../spec/index.js";
import { launchSupervisor } from "../supervisor/launch.js";
import { openLedger } from "./ledger.js";

export interface SubmitOptions {
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  cwd: string;
  specPath: string;
  supervisorEntry: string;
  stallMinutes?: number;
  stopGraceMs?: number;
  signal?: AbortSignal;
}

export interface Submitted {
  jobId: string;
  name: string;
  layout: JobLayout;
  supervisorPid: number;
}

function localMachine(probe: GpuProbe | undefined): RunFile["machine"] {
  if (probe?.kind !== "ok" || probe.gpus.length === 0) return { gpu: "cpu", gpuCount: 0, vramGb: 0 };
  const g = probe.gpus[0]!;
  return { gpu: canonicalGpuName(g.name, g.memoryTotalMiB) ?? g.name, gpuCount: probe.gpus.length, vramGb: Math.round(g.memoryTotalMiB / 1024) };
}

/**
 * Ask the planner where the job should run. `kiln run` runs what it chose when that is this machine
 * (its GPU, or its CPU for a job small enough); a cloud or SSH choice is refused with the next step.
 */
async function planLocal(specPath: string, signal?: AbortSignal): Promise<{ machine: RunFile["machine"]; reason: string; visibleDevices: string }> {
  const { plan, probe } = await planJobFile(specPath, { exec: localExec, ...(signal ? { signal } : {}) });
  if (plan.refusal) throw new UserError(plan.refusal, { exitCode: 1, hint: "raise budget.max_usd or make the job smaller; `kiln plan` shows the estimate" });
  const c = plan.choice;
  if (!c) throw new UserError("the planner found nowhere to run this job", { hint: "see `kiln plan` for what it considered" });
  if (c.kind !== "local" && c.kind !== "cpu") {
    throw new UserError(`the plan is to run on ${c.offer?.provider ?? c.kind} (${c.reason}); kiln run can only run on this machine so far`, { hint: "see `kiln plan` for the comparison" });
  }
  // Pin the workload to the GPUs the planner picked (most free memory first); a CPU plan hides the GPUs
  // so `device: auto` cannot wander onto a card the planner judged too small.
  const visibleDevices = c.kind === "cpu" ? "" : (c.localGpus ?? []).map((g) => String(g.index)).join(",");
  return { machine: c.kind === "cpu" ? { gpu: "cpu", gpuCount: 0, vramGb: 0 } : localMachine(probe), reason: c.reason, visibleDevices };
}

export async function submitJob(o: SubmitOptions): Promise<Submitted> {
  const specPath = resolve(o.cwd, o.specPath);
  const spec = await loadJobSpec(specPath);
  if (!spec.resources.providers.includes("local")) {
    throw new UserError(`${o.specPath}: resources.providers is [${spec.resources.providers.join(", ")}]; kiln run can only run on this machine so far`, {
      exitCode: 2,
      hint: "add `local` to resources.providers, or use `kiln plan` to compare cloud offers",
    });
  }
  const price = localPricePerHour(o.env);
  if (typeof price !== "number") throw new UserError(price.error, { exitCode: 2 });
  const { machine, reason: planReason, visibleDevices } = await planLocal(specPath, o.signal);

  const jobId = newJobId();
  const layout = jobLayout(o.paths.jobs, jobId);
  mkdirSync(layout.logs, { recursive: true });
  copyFileSync(specPath, layout.spec);
  const specDir = dirname(specPath);
  const python = spec.workload.type === "sae-pii" ? choosePython(spec.workload.python, specDir) : { python: "python3" };
  const steps = buildPipeline({ spec, layout, specDir, python }).map((st) =>
    st.name === "python-env" || (machine.gpuCount > 0 && visibleDevices === "") ? st : { ...st, env: { ...st.env, CUDA_VISIBLE_DEVICES: visibleDevices } },
  );
  const run: RunFile = {
    version: 1,
    jobId,
    jobName: spec.name,
    kind: spec.workload.type,
    ledgerPath: o.paths.ledger,
    jobDir: layout.dir,
    provider: "local",
    pricePerHour: price,
    machine,
    planReason,
    steps,
    budget: { maxUsd: spec.budget.max_usd, maxHours: spec.budget.max_hours, alertFractions: spec.budget.alert_fractions },
    alerts: { webhookEnv: spec.alerts?.webhook_env, on: spec.alerts?.on ?? [] },
    monitor: { tickMs: 1000, stallMs: (o.stallMinutes ?? 10) * 60_000, plateauWindow: 20, plateauMinImprovement: 0.001 },
    stopGraceMs: o.stopGraceMs ?? 60_000,
  };
  writeRunFile(layout.runFile, run);
  const ledger = openLedger(o.paths);
  try {
    ledger.createJob({ id: jobId, name: spec.name, kind: spec.workload.type, specYaml: readFileSync(specPath, "utf8"), jobDir: layout.dir, planReason });
    const pid = launchSupervisor(layout.dir, { entry: o.supervisorEntry, env: o.env, jobId });
    // Recorded by the parent too, so `kiln status` never mistakes a just-launched job for a dead one.
    ledger.setProcesses(jobId, { supervisorPid: pid });
    return { jobId, name: spec.name, layout, supervisorPid: pid };
  } finally {
    ledger.close();
  }
}

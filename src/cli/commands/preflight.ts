/** `kiln preflight`: check the local GPU against a job's memory need before paying for a cloud one. */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";
import { numberFlag } from "./offers.js";

/** The runbook's requirement for its reference job (Llama 8B + SAE): "VRAM Requirement: 40GB+". */
const RUNBOOK_NEED_GB = 40;

export const preflightCommand = defineCommand({
  name: "preflight",
  summary: "Check the local GPU: enough memory for the job (local), borderline (risky), or go to the cloud",
  positionals: "[JOB.yaml]",
  options: {
    "need-vram": { type: "string", description: `GPU memory the job needs, GB (default: the job's estimate, else ${RUNBOOK_NEED_GB})`, placeholder: "GB" },
    json: { type: "boolean", description: "Print the probe and verdict as JSON" },
  },
  details: "Exit code 0 for local/cpu, 3 for risky, 4 for cloud, so scripts can branch on it.",
  async handler(ctx, args) {
    const [specPath, ...extra] = args.positionals;
    if (extra.length > 0) throw new UserError("kiln preflight takes at most one job file", { exitCode: 2 });
    const { probeGpus, localExecWithEnv } = await import("../../core/gpu/index.js");
    // Under way while a job file's spec and estimate load (nvidia-smi can take hundreds of ms).
    const probing = probeGpus(localExecWithEnv(ctx.env), ctx.signal);
    probing.catch(() => undefined);
    const { decidePreflight } = await import("../../core/preflight/index.js");
    let need = { vramGb: RUNBOOK_NEED_GB, cpuOk: false, source: "the runbook's Llama-3.1-8B job" };
    if (specPath !== undefined) {
      const { loadJobSpec } = await import("../../core/spec/load.js");
      const { planJob, CPU_MAX_HOURS } = await import("../../core/planner/index.js");
      const { resolve } = await import("node:path");
      const spec = await loadJobSpec(resolve(ctx.cwd, specPath));
      const plan = planJob({ ...spec, resources: { ...spec.resources, providers: ["local"] } }, { gpuProbe: { kind: "missing" }, offers: [] });
      const cpuHours = plan.estimate.cpuHours;
      need = { vramGb: plan.estimate.vramGb, cpuOk: cpuHours !== undefined && cpuHours <= CPU_MAX_HOURS, source: `${specPath} estimate` };
    }
    if (args.values["need-vram"] !== undefined) need = { vramGb: numberFlag("need-vram", args.values["need-vram"], RUNBOOK_NEED_GB), cpuOk: false, source: "--need-vram" };
    const probe = await probing;
    const result = decidePreflight(probe, need);
    if (args.values["json"] === true) ctx.io.out(`${JSON.stringify({ ...result, probe }, null, 2)}\n`);
    else {
      ctx.io.out(`${result.verdict}: ${result.reason} (need from ${need.source})\n`);
      if (result.advice) ctx.io.out(`  → ${result.advice}\n`);
    }
    return { local: 0, cpu: 0, risky: 3, cloud: 4 }[result.verdict];
  },
});

/**
 * A host's own interpreter (`resources.ssh.python`) running the workload Kiln shipped (on PYTHONPATH):
 * the checklist runs before anything is shipped, so the workload's imports are checked here, once the
 * copy is on the machine — with exactly the PYTHONPATH the job's steps get.
 */
import { UserError } from "../../base/errors.js";
import type { Exec } from "../exec.js";
import { probePython } from "./python-facts.js";
import { versionAtLeast } from "./versions.js";

export async function requireHostPythonReady(exec: Exec, o: { python: string; workloadDir: string; minTorch: string; needCuda: boolean; signal?: AbortSignal }): Promise<{ torch: string; workload: string | null }> {
  const p = await probePython(exec, o.python, { workload: true, env: { PYTHONPATH: o.workloadDir }, ...(o.signal && { signal: o.signal }) });
  const hint = `install the workload's dependencies into that interpreter (${o.python} -m pip install 'torch>=${o.minTorch}' transformers safetensors numpy pyyaml faker), or drop resources.ssh.python and let Kiln build a venv`;
  if (p.kind === "missing") throw new UserError(`resources.ssh.python: ${o.python} does not exist on ${exec.where}`, { hint: "point it at an existing interpreter on the host, or drop it and let Kiln build a venv" });
  if (p.kind === "failed") throw new UserError(`resources.ssh.python: ${p.message}`, { hint });
  const f = p.facts;
  if (!f.torch || !versionAtLeast(f.torch.version, o.minTorch)) throw new UserError(`resources.ssh.python: ${o.python} on ${exec.where} has ${f.torch ? `torch ${f.torch.version}` : `no torch (${f.torch_error ?? "not importable"})`}; the workload needs torch ≥ ${o.minTorch}`, { hint });
  if (o.needCuda && !f.torch.cuda_available) throw new UserError(`resources.ssh.python: torch ${f.torch.version} in ${o.python} on ${exec.where} cannot use the GPU (torch.cuda.is_available() is False${f.torch.cuda === null ? ": a CPU-only build" : ""})`, { hint: `install a CUDA build of torch into it (\`kiln verify\` shows the exact command), or set workload.sae.device: cpu` });
  const w = f.workload;
  if (!w?.ok) throw new UserError(`resources.ssh.python: the shipped workload does not import with ${o.python} on ${exec.where}: ${w?.error ?? "no answer"}`, { hint });
  if (w.missing.length > 0) throw new UserError(`resources.ssh.python: ${o.python} on ${exec.where} lacks the workload's packages: ${w.missing.join(", ")}`, { hint });
  return { torch: f.torch.version, workload: w.version ?? null };
}

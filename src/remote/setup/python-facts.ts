/**
 * One Python round trip that reports what the interpreter has: its version, torch (version, CUDA
 * build, whether CUDA works, device, free/total memory, bf16), optionally whether the workload imports,
 * and whether a Hugging Face token is configured (presence only: the token never leaves the machine).
 * Setup and the verification checklist both read it, so a cloud machine answers once per question.
 */
import { z } from "zod";
import { KilnError } from "../../base/errors.js";
import type { Exec } from "../exec.js";

// Runs under `python -c`; `--workload` as argv[1] adds the workload import check. Kept to the
// standard library plus torch, and every probe is in try/except so one broken package can't hide the rest.
export const FACTS_SCRIPT = `
import importlib.util, json, os, sys
out = {"python": ".".join(str(p) for p in sys.version_info[:3]), "executable": sys.executable,
       "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix)}
try:
    import torch
    t = {"version": torch.__version__, "cuda": torch.version.cuda, "cuda_available": bool(torch.cuda.is_available())}
    if t["cuda_available"]:
        t["device_count"] = torch.cuda.device_count()
        t["device_name"] = torch.cuda.get_device_name(0)
        free, total = torch.cuda.mem_get_info(0)
        t["free_bytes"], t["total_bytes"] = int(free), int(total)
        t["bf16"] = bool(torch.cuda.is_bf16_supported())
    out["torch"] = t
except Exception as e:
    out["torch"] = None
    out["torch_error"] = (type(e).__name__ + ": " + str(e))[:300]
if "--workload" in sys.argv[1:]:
    try:
        import kiln_sae
        deps = ("transformers", "safetensors", "numpy", "yaml")
        out["workload"] = {"ok": True, "version": getattr(kiln_sae, "__version__", None),
                           "missing": [m for m in deps if importlib.util.find_spec(m) is None]}
    except Exception as e:
        out["workload"] = {"ok": False, "error": (type(e).__name__ + ": " + str(e))[:300], "missing": []}
home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
out["hf_token"] = bool(os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")) or os.path.isfile(os.path.join(home, "token"))
print("KILN_FACTS " + json.dumps(out))
`;

const torchSchema = z.object({
  version: z.string(),
  cuda: z.string().nullable(),
  cuda_available: z.boolean(),
  device_count: z.number().int().optional(),
  device_name: z.string().optional(),
  free_bytes: z.number().optional(),
  total_bytes: z.number().optional(),
  bf16: z.boolean().optional(),
});

export const pythonFactsSchema = z.object({
  python: z.string().regex(/^\d+\.\d+\.\d+$/),
  executable: z.string(),
  in_venv: z.boolean(),
  torch: torchSchema.nullable(),
  torch_error: z.string().optional(),
  workload: z
    .object({ ok: z.boolean(), version: z.string().nullable().optional(), error: z.string().optional(), missing: z.array(z.string()) })
    .optional(),
  hf_token: z.boolean(),
});

export type PythonFacts = z.infer<typeof pythonFactsSchema>;
export type TorchFacts = z.infer<typeof torchSchema>;

export type PythonProbe = { kind: "ok"; facts: PythonFacts } | { kind: "missing"; python: string } | { kind: "failed"; python: string; message: string };

// Importing torch takes 2-10 s cold, and CUDA initialisation on a wedged driver can hang: bound it.
const FACTS_TIMEOUT_MS = 120_000;

/** Run the facts script with `python`; `missing` when the interpreter doesn't exist. */
export async function probePython(
  exec: Exec,
  python: string,
  opts: { workload?: boolean; env?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<PythonProbe> {
  const argv = [python, "-c", FACTS_SCRIPT, ...(opts.workload ? ["--workload"] : [])];
  const r = await exec.run(argv, { timeoutMs: FACTS_TIMEOUT_MS, ...(opts.env ? { env: opts.env } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  if (r.code === 127) return { kind: "missing", python };
  const line = r.stdout.split("\n").find((l) => l.startsWith("KILN_FACTS "));
  if (r.code !== 0 || line === undefined) {
    const tail = `${r.stderr}\n${r.stdout}`.trim().split("\n").slice(-3).join(" | ");
    return { kind: "failed", python, message: `${python} exited with code ${r.code}: ${tail}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(line.slice("KILN_FACTS ".length));
  } catch (e) {
    throw new KilnError("python_facts_unparsable", `unparsable output from ${python} on ${exec.where}`, { cause: e, details: { line } });
  }
  const parsed = pythonFactsSchema.safeParse(json);
  if (!parsed.success) {
    throw new KilnError("python_facts_unparsable", `unexpected facts from ${python} on ${exec.where}: ${parsed.error.message}`, { details: { line } });
  }
  return { kind: "ok", facts: parsed.data };
}

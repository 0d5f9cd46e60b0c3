/**
 * The checklist itself: pure functions from what was measured on a machine ({@link MachineFacts}) and
 * what the job needs ({@link MachineNeed}) to pass/warn/fail/skip rows. The runbook's "Verification
 * Summary Checklist" plus disk, bf16, driver age and gated-model access.
 */
import type { GpuInfo } from "../gpu/nvidia-smi.js";
import type { GpuProbe } from "../gpu/probe.js";
import type { PythonProbe } from "../../remote/setup/index.js";
import { compareVersions, versionAtLeast } from "../../remote/setup/index.js";
import { advice } from "./advice.js";
import type { HubAccess } from "./hub.js";
import { type CheckResult, isCpuOnly, type MachineNeed } from "./types.js";

export interface ComputeApp {
  pid: number;
  name: string;
  usedMiB: number;
}

export interface MachineFacts {
  where: string;
  gpu: GpuProbe;
  python: PythonProbe;
  disk: { availBytes: number } | { error: string };
  /** CUDA toolkit release from nvcc, when installed (informational: torch wheels bring their own). */
  nvcc: string | undefined;
  /** Processes holding GPU memory (nvidia-smi --query-compute-apps), for the free-VRAM advice. */
  computeApps: ComputeApp[];
  /** The Hub's answer for the base model with the job's token, when it was asked. */
  hub?: HubAccess;
}

/** Free VRAM below this share of the total means something else is on the GPU: worth a warning. */
const BUSY_FRACTION = 0.9;
/** Oldest driver CUDA any torch>=2.4 wheel runs on. */
const MIN_DRIVER_CUDA = "11.8";

const gib = (mib: number) => `${(mib / 1024).toFixed(1)} GiB`;
const gb = (n: number) => `${Number.isInteger(n) ? n : n.toFixed(1)} GiB`;

export function evaluateChecks(facts: MachineFacts, need: MachineNeed): CheckResult[] {
  return [...gpuChecks(facts, need), ...pythonChecks(facts, need), diskCheck(facts, need), workloadCheck(facts, need), hfCheck(facts, need)];
}

function gpuChecks(facts: MachineFacts, need: MachineNeed): CheckResult[] {
  const want = need.gpu;
  if ("cpuOnly" in want) {
    const seen = facts.gpu.kind === "ok" ? ` (${facts.gpu.gpus.map((g) => g.name).join(", ")} present, unused)` : "";
    const why = `CPU-only job: ${want.cpuOnly}${seen}`;
    return [
      { id: "gpu", title: "GPU present", status: "skip", measured: why },
      { id: "vram_total", title: "VRAM total", status: "skip", measured: "CPU-only job" },
      { id: "vram_free", title: "VRAM free", status: "skip", measured: "CPU-only job" },
      { id: "driver", title: "Driver / CUDA", status: "skip", measured: "CPU-only job" },
    ];
  }
  const probe = facts.gpu;
  if (probe.kind !== "ok") {
    const measured = probe.kind === "missing" ? "nvidia-smi: command not found" : probe.message;
    return [
      { id: "gpu", title: "GPU present", status: "fail", measured, expected: `${want.count} NVIDIA GPU${want.count > 1 ? "s" : ""}`, advice: probe.kind === "missing" ? advice.gpuMissing() : advice.gpuFailed(probe.message) },
      { id: "vram_total", title: "VRAM total", status: "skip", measured: "no GPU detected" },
      { id: "vram_free", title: "VRAM free", status: "skip", measured: "no GPU detected" },
      { id: "driver", title: "Driver / CUDA", status: "skip", measured: "no GPU detected" },
    ];
  }
  const gpus = probe.gpus;
  const names = summarizeNames(gpus);
  const present: CheckResult =
    gpus.length >= want.count
      ? { id: "gpu", title: "GPU present", status: "pass", measured: names }
      : { id: "gpu", title: "GPU present", status: "fail", measured: names, expected: `${want.count} GPUs`, advice: advice.tooFewGpus(want.count) };

  const bigEnough = gpus.filter((g) => g.memoryTotalMiB >= want.minVramGb * 1024);
  const largest = Math.max(...gpus.map((g) => g.memoryTotalMiB));
  const total: CheckResult =
    bigEnough.length >= want.count
      ? { id: "vram_total", title: "VRAM total", status: "pass", measured: `${gib(largest)} per GPU`, expected: `≥ ${gb(want.minVramGb)}` }
      : { id: "vram_total", title: "VRAM total", status: "fail", measured: `${gib(largest)} per GPU`, expected: `≥ ${gb(want.minVramGb)}`, advice: advice.vramTotal(want.minVramGb) };

  const usable = bigEnough.filter((g) => g.memoryFreeMiB >= want.minFreeVramGb * 1024).sort((a, b) => b.memoryFreeMiB - a.memoryFreeMiB);
  const best = [...gpus].sort((a, b) => b.memoryFreeMiB - a.memoryFreeMiB)[0]!;
  const busy = gpus.filter((g) => g.memoryFreeMiB < g.memoryTotalMiB * BUSY_FRACTION);
  const apps = facts.computeApps.map((a) => `pid ${a.pid} ${a.name} ${gib(a.usedMiB)}`).join(", ");
  const freeText =
    gpus.length === 1 ? `${gib(best.memoryFreeMiB)} of ${gib(best.memoryTotalMiB)}` : gpus.map((g) => `GPU ${g.index}: ${gib(g.memoryFreeMiB)}`).join(", ");
  let free: CheckResult;
  if (usable.length < want.count) {
    free = { id: "vram_free", title: "VRAM free", status: "fail", measured: freeText, expected: `≥ ${gb(want.minFreeVramGb)}`, advice: advice.vramFree(apps) };
  } else if (busy.some((g) => usable.slice(0, want.count).includes(g))) {
    free = { id: "vram_free", title: "VRAM free", status: "warn", measured: freeText, expected: `≥ ${gb(want.minFreeVramGb)}`, advice: advice.vramFree(apps) };
  } else {
    const note = busy.length > 0 ? ` (use GPU ${usable.slice(0, want.count).map((g) => g.index).join(",")}: others are busy)` : "";
    free = { id: "vram_free", title: "VRAM free", status: "pass", measured: `${freeText}${note}`, expected: `≥ ${gb(want.minFreeVramGb)}` };
  }

  const cuda = probe.cudaVersion;
  const driverText = `driver ${probe.driverVersion}, CUDA ${cuda ?? "?"}${facts.nvcc ? ` (nvcc ${facts.nvcc})` : ""}`;
  const driver: CheckResult =
    cuda !== undefined && compareVersions(cuda, MIN_DRIVER_CUDA) < 0
      ? { id: "driver", title: "Driver / CUDA", status: "fail", measured: driverText, expected: `CUDA ≥ ${MIN_DRIVER_CUDA}`, advice: advice.driverTooOld(cuda) }
      : { id: "driver", title: "Driver / CUDA", status: "pass", measured: driverText };
  return [present, total, free, driver];
}

function summarizeNames(gpus: readonly GpuInfo[]): string {
  const counts = new Map<string, number>();
  for (const g of gpus) counts.set(g.name, (counts.get(g.name) ?? 0) + 1);
  return [...counts].map(([name, n]) => (n > 1 ? `${n}× ${name}` : name)).join(", ");
}

function pythonChecks(facts: MachineFacts, need: MachineNeed): CheckResult[] {
  const p = facts.python;
  const cpu = isCpuOnly(need);
  const driverCuda = facts.gpu.kind === "ok" ? facts.gpu.cudaVersion : undefined;
  if (p.kind !== "ok") {
    const measured = p.kind === "missing" ? `${p.python}: not found` : p.message;
    return [
      { id: "python", title: "Python", status: "fail", measured, expected: "≥ 3.10", advice: advice.pythonMissing(p.python) },
      { id: "torch", title: "PyTorch", status: "skip", measured: "no Python" },
      { id: "torch_cuda", title: "torch.cuda.is_available()", status: "skip", measured: "no Python" },
      { id: "bf16", title: "bf16 support", status: "skip", measured: "no Python" },
    ];
  }
  const f = p.facts;
  const python: CheckResult = versionAtLeast(f.python, "3.10")
    ? { id: "python", title: "Python", status: "pass", measured: `${f.python} (${f.executable})`, expected: "≥ 3.10" }
    : { id: "python", title: "Python", status: "fail", measured: `${f.python} (${f.executable})`, expected: "≥ 3.10", advice: advice.pythonOld() };
  const t = f.torch;
  const reinstall = advice.torchReinstall(need.python, need.minTorch, driverCuda);
  const torchOk = t !== null && versionAtLeast(t.version, need.minTorch);
  const torch: CheckResult = torchOk
    ? { id: "torch", title: "PyTorch", status: "pass", measured: t.version, expected: `≥ ${need.minTorch}` }
    : {
        id: "torch",
        title: "PyTorch",
        status: need.afterSetup ? "fail" : "warn",
        measured: t ? t.version : `not importable (${f.torch_error ?? "no torch"})`,
        expected: `≥ ${need.minTorch}`,
        advice: need.afterSetup ? reinstall : advice.torchBeforeSetup(need.minTorch),
      };
  if (cpu || t === null) {
    const why = cpu ? "CPU-only job" : "no torch";
    return [python, torch, { id: "torch_cuda", title: "torch.cuda.is_available()", status: "skip", measured: why }, { id: "bf16", title: "bf16 support", status: "skip", measured: why }];
  }
  let cudaCheck: CheckResult;
  if (t.cuda_available) {
    cudaCheck = { id: "torch_cuda", title: "torch.cuda.is_available()", status: "pass", measured: `True: ${t.device_name ?? "?"}, torch CUDA ${t.cuda}` };
  } else {
    const mismatch = t.cuda !== null && driverCuda !== undefined && compareVersions(t.cuda, driverCuda) > 0;
    const measured =
      t.cuda === null
        ? `False: CPU-only torch build (${t.version})`
        : mismatch
          ? `False: torch built for CUDA ${t.cuda}, driver supports ≤ ${driverCuda}`
          : `False (torch CUDA ${t.cuda})`;
    const fix = facts.gpu.kind !== "ok" ? advice.gpuMissing() : t.cuda === null || mismatch ? reinstall : advice.cudaInitFailed();
    // Before setup the system torch is only a candidate; setup installs a CUDA build when it doesn't fit.
    cudaCheck = { id: "torch_cuda", title: "torch.cuda.is_available()", status: need.afterSetup ? "fail" : "warn", measured, advice: need.afterSetup ? fix : `${advice.torchBeforeSetup(need.minTorch)} (${fix})` };
  }
  let bf16: CheckResult;
  if (!t.cuda_available || t.bf16 === undefined) bf16 = { id: "bf16", title: "bf16 support", status: "skip", measured: "CUDA not available" };
  else if (t.bf16) bf16 = { id: "bf16", title: "bf16 support", status: "pass", measured: "yes" };
  else if (need.bf16 === "required") bf16 = { id: "bf16", title: "bf16 support", status: "fail", measured: "no", expected: "yes (mixed_precision: bf16)", advice: advice.bf16Required() };
  else bf16 = { id: "bf16", title: "bf16 support", status: need.bf16 === "no" ? "pass" : "warn", measured: "no", ...(need.bf16 === "no" ? {} : { advice: advice.bf16Fallback() }) };
  return [python, torch, cudaCheck, bf16];
}

function diskCheck(facts: MachineFacts, need: MachineNeed): CheckResult {
  const expected = `≥ ${gb(need.diskGb)}`;
  if ("error" in facts.disk) return { id: "disk", title: "Disk space", status: "fail", measured: facts.disk.error, expected, advice: advice.disk(need.diskPath) };
  const availGb = facts.disk.availBytes / 1024 ** 3;
  const measured = `${availGb.toFixed(1)} GiB free on ${need.diskPath}`;
  if (availGb < need.diskGb) return { id: "disk", title: "Disk space", status: "fail", measured, expected, advice: advice.disk(need.diskPath) };
  // Within 20% of the need: checkpoints rotate, but a larger data set or cache would not fit.
  if (availGb < need.diskGb * 1.2) return { id: "disk", title: "Disk space", status: "warn", measured, expected, advice: advice.disk(need.diskPath) };
  return { id: "disk", title: "Disk space", status: "pass", measured, expected };
}

function workloadCheck(facts: MachineFacts, need: MachineNeed): CheckResult {
  const title = "Workload imports";
  if (!need.afterSetup) return { id: "workload", title, status: "skip", measured: "installed by setup" };
  const w = facts.python.kind === "ok" ? facts.python.facts.workload : undefined;
  if (!w) return { id: "workload", title, status: "fail", measured: "no Python", advice: advice.workloadBroken(need.python) };
  if (!w.ok) return { id: "workload", title, status: "fail", measured: w.error ?? "import failed", advice: advice.workloadBroken(need.python) };
  if (w.missing.length > 0) return { id: "workload", title, status: "fail", measured: `kiln_sae ${w.version ?? "?"}, missing: ${w.missing.join(", ")}`, advice: advice.workloadBroken(need.python) };
  return { id: "workload", title, status: "pass", measured: `kiln_sae ${w.version ?? "?"}` };
}

/** Organisations whose models need a licence accepted on the Hub before download. */
const GATED = [/^meta-llama\//i, /^google\/gemma/i, /^mistralai\//i, /^bigcode\/starcoder/i, /^tiiuae\/falcon-180/i, /^CohereForAI\//i];

export const isGatedModel = (id: string): boolean => GATED.some((re) => re.test(id));

function hfCheck(facts: MachineFacts, need: MachineNeed): CheckResult {
  const title = "Hugging Face access";
  const model = need.baseModel;
  if (model === undefined || !/^[\w.-]+\/[\w.-]+$/.test(model)) return { id: "hf_access", title, status: "skip", measured: model ? `local model (${model})` : "no Hub model" };
  const onMachine = facts.python.kind === "ok" && facts.python.facts.hf_token;
  const hub = facts.hub;
  // The Hub's own answer wins; the offline rules below only apply when it could not be asked.
  if (hub?.kind === "ok") return { id: "hf_access", title, status: "pass", measured: `${model}: readable${need.hfTokenProvided ? " with HF_TOKEN" : ""} (asked the Hub)` };
  if (hub?.kind === "not-found") return { id: "hf_access", title, status: "fail", measured: `${model}: no such model on the Hub`, advice: advice.modelNotFound(model) };
  if (hub?.kind === "denied") return { id: "hf_access", title, status: "fail", measured: `${model}: HF_TOKEN has no access (HTTP ${hub.status})`, expected: "licence accepted", advice: advice.gatedDenied(model) };
  if (hub?.kind === "no-token" && !onMachine) return { id: "hf_access", title, status: "fail", measured: `${model} is gated; no token`, expected: "HF_TOKEN", advice: advice.gatedModel(model) };
  const offline = hub?.kind === "unknown" ? ` (${hub.reason})` : "";
  if (!isGatedModel(model) && hub?.kind !== "no-token") return { id: "hf_access", title, status: "pass", measured: `${model} is public${offline}` };
  if (need.hfTokenProvided || onMachine) {
    // Licence acceptance itself is only visible to the Hub: the download is the real check.
    return { id: "hf_access", title, status: "pass", measured: `${model} is gated; token ${need.hfTokenProvided ? "provided (HF_TOKEN)" : "found on the machine"}${offline}` };
  }
  return { id: "hf_access", title, status: "fail", measured: `${model} is gated; no token`, expected: "HF_TOKEN", advice: advice.gatedModel(model) };
}

/** GPU discovery through nvidia-smi, on any Exec. */
export { type GpuProbe, probeGpus } from "./probe.js";
export { type GpuInfo, mibToGb, parseCudaVersion, parseGpuQuery } from "./nvidia-smi.js";
export { localExecWithEnv } from "./local-exec.js";
export { GPU_MODELS, canonicalGpuName, gpuModel, resolveGpuAlias } from "./names.js";

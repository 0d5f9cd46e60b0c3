/** GPU discovery through nvidia-smi, on any Exec. */
export { type GpuProbe, probeGpus } from "./probe.js";
export { type GpuInfo, parseCudaVersion, parseGpuQuery } from "./nvidia-smi.js";
export { canonicalGpuName } from "./names.js";

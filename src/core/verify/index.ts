/** The machine verification checklist (`kiln verify`, and the gate before every run). */
export { advice } from "./advice.js";
export { type ComputeApp, evaluateChecks, isGatedModel, type MachineFacts } from "./checks.js";
export { checkHubAccess, DEFAULT_HUB, type HubAccess, type HubOptions } from "./hub.js";
export { gatherFacts, parseComputeApps, parseDfAvailable, requireMachineReady, type VerifyOptions, verifyMachine } from "./machine.js";
export { DEFAULT_CPU_DISK_GB, DEFAULT_GPU_DISK_GB, type NeedOptions, needFromSpec, WORKLOAD_MIN_TORCH } from "./need.js";
export { type ChecksDocument, checksDocument, renderChecks } from "./report.js";
export { type CheckId, type CheckResult, type CheckStatus, isCpuOnly, type MachineNeed, MachineNotReadyError } from "./types.js";

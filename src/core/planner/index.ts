/** Sizing a job and choosing where it runs. */
export {
  CPU_GFLOPS_PER_CORE,
  type CachePlacement,
  type Estimate,
  KNOWN_DATASETS,
  MFU_LM,
  MFU_SAE,
  type MachineSpace,
  type RunTime,
  estimateSae,
  estimateTokens,
  placeCache,
  runTime,
} from "./estimate.js";
export { KNOWN_MODELS, findModel, resolveModel } from "./models.js";
export { CLOUD_BOOT_HOURS, CPU_MAX_HOURS, type Plan, type PlanChoice, type PlanInputs, type PlanOption, planJob } from "./plan.js";
export { renderPlan } from "./render.js";
export { type CapGuarantee, assertCapDecided, capGuarantee } from "./cap-guarantee.js";
export { offerQueryFor, planJobFile } from "./job-plan.js";

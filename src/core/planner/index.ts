/** Sizing a job and choosing where it runs. */
export {
  CPU_GFLOPS_PER_CORE,
  type CachePlacement,
  type Estimate,
  KNOWN_DATASETS,
  MFU,
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
export { type BootEstimate, type BootTime, DEFAULT_MACHINE_BOOT, SETUP_MINUTES, bootFor } from "./boot.js";
export { GPUS_USED_PER_MACHINE, type Throughput, throughputOf } from "./offer-option.js";
export { LIVE_PRICES_DEADLINE_MS, type ProviderPrices, answerLine, answeredSources, askProviders, priceSourceLines } from "./live-prices.js";
export { offersForJob } from "./job-plan.js";
export { type SpotArithmetic, spotArithmetic, spotArithmeticText } from "./spot.js";

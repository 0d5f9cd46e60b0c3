/**
 * The emulated account's catalog: `GET /specs` and `GET /pricing` as the emulator serves them. The spec keys
 * follow the shape third-party clients record (`h100_x1_production`); the prices are the emulator's own list,
 * close to Thunder's public page but **not** Thunder's figures: only live `GET /pricing` is.
 */
import type { ThunderPricing, ThunderSpecs } from "../schema.js";

const spec = (displayName: string, vramGB: number, gpuCount: number, mode: string, vcpuOptions: number[]) => ({ displayName, vramGB, gpuCount, mode, vcpuOptions, ramPerVCPUGiB: 8, storageGB: { min: 100, max: 1000 } });

export const EMULATOR_SPECS: ThunderSpecs = {
  a6000_x1_prototyping: spec("RTX A6000", 48, 1, "prototyping", [4, 8]),
  a100xl_x1_prototyping: spec("A100", 80, 1, "prototyping", [4, 8, 12]),
  a100xl_x1_production: spec("A100", 80, 1, "production", [8]),
  a100xl_x2_production: spec("A100", 80, 2, "production", [16]),
  h100_x1_prototyping: spec("H100", 80, 1, "prototyping", [4, 8, 12]),
  h100_x1_production: spec("H100", 80, 1, "production", [8]),
};

/** Per GPU-hour by `<gpu>_<mode>`, plus extra vCPUs beyond the 4 included, per vCPU-hour. */
export const EMULATOR_PRICING: ThunderPricing = {
  a6000_prototyping: 0.27,
  a100xl_prototyping: 0.78,
  a100xl_production: 1.39,
  h100_prototyping: 1.47,
  h100_production: 1.89,
  additional_vcpus: 0.02,
  disk_gb: 0.0001,
};

/** What an instance bills per hour in the emulator: its GPUs at the mode's rate, plus vCPUs past the first 4. */
export function emulatorPrice(pricing: ThunderPricing, gpuType: string, mode: string, numGpus: number, cpuCores: number): number | undefined {
  const perGpu = pricing[`${gpuType}_${mode}`];
  if (perGpu === undefined) return undefined;
  return perGpu * numGpus + Math.max(0, cpuCores - 4) * (pricing["additional_vcpus"] ?? 0);
}

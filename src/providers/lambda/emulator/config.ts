/**
 * The emulated Lambda account's configuration: instance types with prices and per-region capacity,
 * quotas, timings, rate limits and faults. `kiln emulate lambda --config FILE` reads the serialisable
 * part from JSON/YAML through {@link emulatorConfigSchema} (strict: an unknown key is an error).
 */
import { z } from "zod";
import type { FaultRule } from "./faults.js";

export const REGION_DESCRIPTIONS: Record<string, string> = {
  "us-west-1": "California, USA",
  "us-west-2": "Arizona, USA",
  "us-west-3": "Utah, USA",
  "us-east-1": "Virginia, USA",
  "us-east-2": "Washington DC, USA",
  "us-east-3": "Washington DC, USA",
  "us-south-1": "Texas, USA",
  "us-south-2": "North Texas, USA",
  "us-south-3": "Central Texas, USA",
  "us-midwest-1": "Illinois, USA",
  "us-midwest-2": "Illinois, USA",
  "europe-central-1": "Germany",
  "asia-south-1": "India",
  "asia-northeast-1": "Osaka, Japan",
  "asia-northeast-2": "Tokyo, Japan",
  "australia-east-1": "Sydney, Australia",
  "me-west-1": "Israel",
};

const specsSchema = z.strictObject({
  vcpus: z.number().int().positive(),
  memory_gib: z.number().int().positive(),
  storage_gib: z.number().int().positive(),
  gpus: z.number().int().nonnegative(),
});

export const emulatorInstanceTypeSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9_]+$/),
  description: z.string(),
  gpu_description: z.string(),
  price_cents_per_hour: z.number().int().nonnegative(),
  specs: specsSchema,
  /** Region code → how many more instances of this type fit there. */
  capacity: z.record(z.string(), z.number().int().nonnegative()),
});
export type EmulatorInstanceType = z.infer<typeof emulatorInstanceTypeSchema>;

const faultSchema = z.strictObject({
  kind: z.enum(["error-5xx", "slow", "hang", "lost-response", "rate-limit", "huge-body", "listing-lag", "no-id"]),
  match: z.strictObject({ method: z.string().optional(), path: z.string().optional() }).optional(),
  probability: z.number().min(0).max(1).optional(),
  times: z.number().int().positive().optional(),
  delayMs: z.number().int().nonnegative().optional(),
  requests: z.number().int().nonnegative().optional(),
  bytes: z.number().int().positive().optional(),
  status: z.number().int().min(500).max(599).optional(),
});

export const emulatorConfigSchema = z.strictObject({
  apiKeys: z.array(z.string().min(1)).min(1).optional(),
  instanceTypes: z.array(emulatorInstanceTypeSchema).optional(),
  quota: z.strictObject({ maxInstances: z.number().int().nonnegative() }).optional(),
  bootDelayMs: z.number().int().nonnegative().optional(),
  terminateDelayMs: z.number().int().nonnegative().optional(),
  terminatedVisibleMs: z.number().int().nonnegative().optional(),
  rateLimit: z
    .union([z.literal(false), z.strictObject({ perSecond: z.number().positive(), burst: z.number().int().positive(), launchIntervalMs: z.number().int().nonnegative(), launchBurst: z.number().int().positive() })])
    .optional(),
  faults: z.array(faultSchema).optional(),
  seed: z.number().int().optional(),
});
export type EmulatorConfig = z.infer<typeof emulatorConfigSchema>;

/** Lambda's published limits: ~1 request/s; launch one per 12 s or five per minute. */
export const LAMBDA_RATE_LIMIT = { perSecond: 1, burst: 2, launchIntervalMs: 12_000, launchBurst: 5 } as const;

const t = (name: string, description: string, gpu: string, cents: number, gpus: number, vcpus: number, mem: number, disk: number, capacity: Record<string, number>): EmulatorInstanceType => ({
  name,
  description,
  gpu_description: gpu,
  price_cents_per_hour: cents,
  specs: { vcpus, memory_gib: mem, storage_gib: disk, gpus },
  capacity,
});

/** A small catalogue shaped like Lambda's, with prices from the runbook's table where it has them. */
export const DEFAULT_INSTANCE_TYPES: EmulatorInstanceType[] = [
  t("gpu_1x_a10", "1x A10 (24 GB PCIe)", "A10 (24 GB PCIe)", 75, 1, 30, 200, 1400, { "us-east-1": 4, "us-west-1": 4 }),
  t("gpu_1x_a100", "1x A100 (40 GB PCIe)", "A100 (40 GB PCIe)", 129, 1, 30, 200, 512, { "us-west-1": 2, "us-east-1": 2, "us-south-1": 2 }),
  t("gpu_1x_a100_sxm4", "1x A100 (40 GB SXM4)", "A100 (40 GB SXM4)", 129, 1, 30, 200, 512, { "us-east-1": 2 }),
  t("gpu_1x_h100_pcie", "1x H100 (80 GB PCIe)", "H100 (80 GB PCIe)", 249, 1, 26, 200, 1024, { "us-west-3": 2 }),
  t("gpu_1x_gh200", "1x GH200 (96 GB)", "GH200 (96 GB)", 149, 1, 64, 432, 4096, { "us-west-1": 1 }),
  t("gpu_8x_h100_sxm5", "8x H100 (80 GB SXM5)", "H100 (80 GB SXM5)", 2392, 8, 208, 1800, 22528, {}),
];

/** Default account: one key, generous quota, short but visible transitions. */
export const EMULATOR_DEFAULTS = {
  apiKeys: ["kiln-emulator-key"],
  bootDelayMs: 2_000,
  terminateDelayMs: 1_000,
  terminatedVisibleMs: 5_000,
  quota: { maxInstances: 10 },
} as const;

export type { FaultRule };

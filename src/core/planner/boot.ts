/**
 * Boot: the billed time from launch to the first training step on a fresh cloud machine, per provider.
 * It is the provider's machine boot (launch → SSH answers) plus Kiln's setup on it (the Python env, torch's
 * wheels, the model download), and every spot restart pays it again.
 *
 * The machine boot is the provider's to state: a descriptor may carry `boot: { minutes, source }`
 * (src/providers/<name>/descriptor.ts). The core never names a provider, so a provider that does not say
 * gets {@link DEFAULT_MACHINE_BOOT}, marked assumed.
 */
import type { ProviderDescriptor } from "../../providers/descriptor.js";
import { providers } from "../../providers/registry.js";

/** A provider's boot as it states it. */
export interface BootTime {
  minutes: number;
  /** Where the number comes from, or "assumed: …" with the reasoning. */
  source: string;
}

export interface BootEstimate {
  /** Machine boot + setup, in hours: what a fresh machine bills before the first step. */
  hours: number;
  machineMinutes: number;
  setupMinutes: number;
  source: string;
  /** True when the provider states no boot time and the default stands in. */
  assumed: boolean;
}

/**
 * The machine boot for a provider that states none: runbook.md's Lambda boot, "5-10 minutes (occasionally
 * up to 15 minutes during peak hours)", at the top of its usual range.
 */
export const DEFAULT_MACHINE_BOOT: BootTime = { minutes: 10, source: "assumed: runbook.md's Lambda boot, 5-10 min (the top)" };

/**
 * Kiln's setup on a booted machine, ASSUMED (not measured on a cloud machine yet): the venv with torch's
 * CUDA wheels (~2.5 GB) and the model download (Llama-3.1-8B: 16 GB of bf16 safetensors, ~2-3 min at
 * 100-150 MB/s from the Hub) — about 5 minutes.
 */
export const SETUP_MINUTES = 5;

const isBootTime = (b: unknown): b is BootTime =>
  typeof b === "object" && b !== null && "minutes" in b && typeof b.minutes === "number" && b.minutes >= 0 && "source" in b && typeof b.source === "string";

/** A descriptor's `boot`, when it states a usable one. */
const stated = (d: ProviderDescriptor | undefined): BootTime | undefined => (isBootTime(d?.boot) ? d.boot : undefined);

/**
 * The boot a fresh machine of `provider` costs.
 *
 * @example bootFor("some-cloud") // { hours: 0.25, machineMinutes: 10, setupMinutes: 5, assumed: true, … }
 */
export function bootFor(provider: string): BootEstimate {
  const own = stated(providers().find((d) => d.name === provider));
  const b = own ?? DEFAULT_MACHINE_BOOT;
  return { hours: (b.minutes + SETUP_MINUTES) / 60, machineMinutes: b.minutes, setupMinutes: SETUP_MINUTES, source: `${b.source}; + ${SETUP_MINUTES} min setup (assumed)`, assumed: own === undefined };
}

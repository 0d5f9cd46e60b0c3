/**
 * Offers from Thunder's two anonymous catalog calls: `GET /specs` (what can be created: GPU, count, mode,
 * vCPU options, storage range) and `GET /pricing` (USD per hour by key).
 *
 * **Modes.** Thunder sells each GPU in two modes (spec `InstanceMode`): `prototyping` attaches the GPU over
 * TCP and time-slices it ("usually within 1×–1.8× of a direct-attach GPU … less optimized tasks may be much
 * worse"; "lacks official support for some common GPU libraries" — Thunder's GPU-over-TCP write-ups), and
 * `production`, a directly attached GPU at a higher price. A training run cannot be shown safe on the cheaper
 * mode, so Kiln offers **production only** by default; prototyping offers exist only when the provider is
 * built with `modes` including it, and their instance type says so (`h100_x1_prototyping`), never hidden
 * behind the same name as the production machine.
 *
 * **No spot.** Thunder has no spot or interruptible product (prototyping is a mode, not spot): every offer is
 * `spot: false`, so a plan preferring spot finds no Thunder spot rows.
 *
 * **Prices (GUESS until checked live).** The pricing key format is undocumented. Kiln looks up, in order: the
 * spec's own key (`h100_x1_production`, a total), `<gpu>_x<n>_<mode>` (a total), `<gpu>_<mode>` (per GPU,
 * times n). The first 4 vCPUs are included (Thunder's pricing page); more are `additional_vcpus` per vCPU-hour
 * when that key exists. A spec with no price Kiln can find is left out (warned), never priced at $0.
 * **Stock:** the spec has no availability call (the CLI's `/v1/status` is not in it), so `available` is undefined.
 */
import { implausiblePrice } from "../price-check.js";
import { canonicalGpu } from "../gpu-models.js";
import type { DiskSizing, GpuRequest, Offer } from "../provider.js";
import { THUNDER_MODES, type ThunderMode, type ThunderPricing, type ThunderSpecs } from "./schema.js";

/** Thunder does not expose regions; every offer is in this one. */
export const THUNDER_REGION = "default";
/** vCPUs included in the GPU price (Thunder's pricing page: "the first 4 vCPUs … are included"). */
const INCLUDED_VCPUS = 4;
/** Disk included in the price; Kiln asks for at least this much. */
export const INCLUDED_DISK_GB = 100;

/** Thunder's GPU type words (create's `gpu_type`) → canonical names, for specs whose display name Kiln does not know. */
const BY_TYPE: Record<string, string> = {
  t4: "T4-16GB",
  a100: "A100-40GB",
  a100xl: "A100-80GB",
  h100: "H100-80GB",
  a6000: "A6000-48GB",
  l40s: "L40S-48GB",
};

/**
 * Thunder's create takes the disk size (`InstanceCreateRequest.disk_size_gb`, required), and `GET /specs` gives
 * each spec's range (`storageGB.min`/`max`): Kiln sizes the disk there. The first {@link INCLUDED_DISK_GB} GB
 * are in the GPU price (Thunder's pricing page); the rest is metered "per 100GB-hour while running" (the page).
 * GUESS(thunder): the rate. The spec has no storage key in `GET /pricing` and Kiln has no reading of the page's
 * figure, so $0.10/GB-month (RunPod's and GCE pd-balanced's rate) stands in until it is checked. The disk is
 * the instance's and is deleted with it (snapshots, which outlive it, Kiln never makes).
 */
export function diskSizingOf(range: { min?: number; max?: number } | undefined): DiskSizing | undefined {
  if (range?.max === undefined || range.max <= INCLUDED_DISK_GB) return undefined;
  return {
    maxGb: range.max,
    ...(range.min !== undefined && { minGb: range.min }),
    usdPerGbMonth: 0.1,
    includedGb: INCLUDED_DISK_GB,
    priceSource: "GUESS: $0.10/GB-month beyond the 100 GB included (thundercompute.com/pricing meters it per 100GB-hour; rate unread)",
    billedAfterTermination: false,
  };
}

export interface ThunderOfferSpec {
  gpuType: string;
  gpuCount: number;
  mode: ThunderMode;
  vcpus: number;
  diskGb: number;
}

/** `h100_x1_production` → its parts; undefined for any other shape (an id Kiln did not make). */
export function parseInstanceType(t: string): { gpuType: string; gpuCount: number; mode: ThunderMode } | undefined {
  const m = /^([a-z0-9]+)_x(\d+)_(prototyping|production)$/.exec(t);
  return m ? { gpuType: m[1]!, gpuCount: Number(m[2]), mode: m[3] as ThunderMode } : undefined;
}

export const instanceTypeOf = (s: { gpuType: string; gpuCount: number; mode: ThunderMode }): string => `${s.gpuType}_x${s.gpuCount}_${s.mode}`;

/** The hourly price of a machine, or undefined when the pricing map has no key Kiln recognises for it. */
export function priceOf(pricing: ThunderPricing, s: { gpuType: string; gpuCount: number; mode: ThunderMode; vcpus: number }, specKey?: string): number | undefined {
  const total = (specKey !== undefined ? pricing[specKey] : undefined) ?? pricing[instanceTypeOf(s)];
  const perGpu = pricing[`${s.gpuType}_${s.mode}`];
  const gpuPart = total ?? (perGpu === undefined ? undefined : perGpu * s.gpuCount);
  if (gpuPart === undefined) return undefined;
  const extraVcpus = Math.max(0, s.vcpus - INCLUDED_VCPUS);
  return round4(gpuPart + extraVcpus * (pricing["additional_vcpus"] ?? 0));
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * Every offer the specs and prices allow, cheapest first, for the given modes (default production only).
 * Specs Kiln cannot map (unknown GPU, no mode, no price) are skipped and reported through `warn`.
 */
export function offersFrom(specs: ThunderSpecs, pricing: ThunderPricing, priceDate: string, o: { modes?: readonly ThunderMode[]; warn?: (msg: string) => void } = {}): Offer[] {
  const modes = o.modes ?? ["production"];
  const warn = o.warn ?? (() => {});
  const offers: Offer[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    const gpuType = key.split("_x")[0]?.toLowerCase() ?? "";
    const mode = THUNDER_MODES.find((m) => m === spec.mode);
    if (!mode || !modes.includes(mode) || spec.gpuCount < 1 || !key.includes("_x")) continue;
    const gpu = canonicalGpu(spec.displayName, spec.vramGB) ?? BY_TYPE[gpuType];
    if (!gpu) {
      warn(`Thunder lists ${key} (${spec.displayName}, ${spec.vramGB} GB), a GPU Kiln does not know; left out`);
      continue;
    }
    const vcpus = Math.min(...(spec.vcpuOptions?.length ? spec.vcpuOptions : [INCLUDED_VCPUS]));
    const diskGb = Math.max(INCLUDED_DISK_GB, spec.storageGB?.min ?? 0);
    const s: ThunderOfferSpec = { gpuType, gpuCount: spec.gpuCount, mode, vcpus, diskGb };
    const sizing = diskSizingOf(spec.storageGB);
    const price = priceOf(pricing, s, key);
    const bad = price === undefined ? "no price in GET /pricing" : implausiblePrice(price, spec.gpuCount);
    if (price === undefined || bad !== undefined) {
      warn(`Thunder lists ${key} with ${bad}; left out of the offers`);
      continue;
    }
    offers.push({
      provider: "thunder",
      instanceType: instanceTypeOf(s),
      gpu,
      gpuCount: spec.gpuCount,
      vramGb: spec.vramGB,
      vcpus,
      ...(spec.ramPerVCPUGiB !== undefined && { memoryGb: spec.ramPerVCPUGiB * vcpus }),
      diskGb,
      ...(sizing && { diskSizing: sizing }),
      region: THUNDER_REGION,
      pricePerHour: price,
      spot: false,
      available: undefined,
      priceSource: "live",
      priceDate,
    });
  }
  return offers.sort((a, b) => a.pricePerHour - b.pricePerHour || a.instanceType.localeCompare(b.instanceType));
}

export function matches(o: Offer, req: GpuRequest): boolean {
  if (req.gpus !== "any" && !req.gpus.includes(o.gpu)) return false;
  if (o.gpuCount !== req.count || o.vramGb < req.minVramGb) return false;
  if (req.regions && !req.regions.includes(o.region)) return false;
  return req.maxPricePerHour === undefined || o.pricePerHour <= req.maxPricePerHour;
}

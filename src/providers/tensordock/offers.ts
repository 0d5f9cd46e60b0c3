/**
 * Offers from `GET /locations`, and the machine size Kiln rents with each.
 *
 * TensorDock has no instance types: a VM is a GPU model and count at a location plus vCPUs, RAM and disk, each
 * priced on its own (the locations answer's `pricing`). Kiln picks one size per GPU count — 8 vCPUs and 32 GB of
 * RAM per GPU, 200 GB of disk — cut to what the location can deploy and rounded to the steps the modify docs
 * give (vCPUs by 2, RAM by 8 GB, disk by 50 GB, at least 100 GB). The offer carries that size (vcpus, memoryGb,
 * diskGb), so launch asks for exactly what was priced.
 *
 * GUESS(tensordock): `price_per_hr` is per GPU for the GPU alone, and the hourly rate of a VM is
 * `count × price_per_hr + vcpus × per_vcpu_hr + ram × per_gb_ram_hr + disk × per_gb_storage_hr` (the marketplace
 * model of the v0 API, where each resource had its own price). Verify by comparing one real instance's
 * `rateHourly` with this sum; describe reports `rateHourly` when the API sends it.
 */
import { type DiskSizing, type GpuRequest, HOURS_PER_MONTH, type Offer } from "../provider.js";
import { canonicalTensordockGpu } from "./gpu-names.js";
import type { TdLocation, TdLocationGpu } from "./schema.js";

export const VCPUS_PER_GPU = 8;
export const RAM_GB_PER_GPU = 32;
export const DISK_GB = 200;
/** TensorDock's documented minimum ("Minimum storage: 100GB"). */
export const MIN_DISK_GB = 100;

const down = (v: number, step: number) => Math.floor(v / step) * step;

/** The size Kiln rents `count` of this GPU with at this location, or undefined when it cannot fit. */
export function machineSize(g: TdLocationGpu, count: number): { vcpus: number; ramGb: number; diskGb: number } | undefined {
  const vcpus = down(Math.min(g.resources.max_vcpus, VCPUS_PER_GPU * count), 2);
  const ramGb = down(Math.min(g.resources.max_ram_gb, RAM_GB_PER_GPU * count), 8);
  const diskGb = down(Math.min(g.resources.max_storage_gb, DISK_GB), 50);
  if (vcpus < 2 || ramGb < 8 || diskGb < MIN_DISK_GB) return undefined;
  return { vcpus, ramGb, diskGb };
}

/**
 * How a VM's disk can be sized at launch: v2 create's `resources.storage_gb`, from the 100 GB floor up to the
 * location's `resources.max_storage_gb` for this GPU (GET /locations), at `pricing.per_gb_storage_hr` — a live
 * price, and already in the offer's `pricePerHour` for the {@link DISK_GB} Kiln rents by default. The disk is
 * the VM's own and goes with it on delete (a stopped VM keeps billing it; Kiln never stops, it deletes).
 */
export function diskSizingOf(g: TdLocationGpu, includedGb: number): DiskSizing | undefined {
  const perGbHour = g.pricing?.per_gb_storage_hr;
  if (perGbHour === undefined || !(g.resources.max_storage_gb >= MIN_DISK_GB)) return undefined;
  return {
    maxGb: g.resources.max_storage_gb,
    minGb: MIN_DISK_GB,
    usdPerGbMonth: perGbHour * HOURS_PER_MONTH,
    includedGb,
    priceSource: "TensorDock GET /locations pricing.per_gb_storage_hr (live)",
    billedAfterTermination: false,
  };
}

/** The hourly price of that size (see the GUESS above), rounded to a millionth of a dollar. */
export function hourlyPrice(g: TdLocationGpu, count: number, size: { vcpus: number; ramGb: number; diskGb: number }): number {
  const p = g.pricing ?? { per_vcpu_hr: 0, per_gb_ram_hr: 0, per_gb_storage_hr: 0 };
  const total = count * g.price_per_hr + size.vcpus * p.per_vcpu_hr + size.ramGb * p.per_gb_ram_hr + size.diskGb * p.per_gb_storage_hr;
  return Math.round(total * 1e6) / 1e6;
}

/**
 * Whether a region the user named is this location: its id (what a create takes, and an offer's region), or its
 * city or country as TensorDock writes them, in any case ("Austin", "united states"), since nobody knows a
 * location's UUID by heart.
 */
export function regionMatches(region: string, l: Pick<TdLocation, "id" | "city" | "country">): boolean {
  const r = region.trim().toLowerCase();
  return r === l.id.toLowerCase() || r === l.city?.toLowerCase() || r === l.country?.toLowerCase();
}

/** A readable name for a location, for messages (`Austin, United States`). */
export const locationLabel = (l: TdLocation): string => [l.city, l.country].filter(Boolean).join(", ") || l.id;

/**
 * One offer per (location, GPU model) that can deploy `req.count` now (`max_count` ≥ count). Stock is per
 * location and GPU, so a GPU a location cannot deploy enough of is simply not offered there. No spot: the v2 API
 * has none (the legacy v0 marketplace had spot instances; v2's create body has no such field).
 */
export function offersFrom(locations: readonly TdLocation[], req: GpuRequest, priceDate: string, warn: (msg: string) => void = () => {}): Offer[] {
  const offers: Offer[] = [];
  for (const loc of locations) {
    if (req.regions && !req.regions.some((r) => regionMatches(r, loc))) continue;
    for (const g of loc.gpus) {
      const gpu = canonicalTensordockGpu(g.v0Name, g.displayName);
      if (!gpu || g.max_count < req.count) continue;
      if (req.gpus !== "any" && !req.gpus.includes(gpu.gpu)) continue;
      if (gpu.vramGb < req.minVramGb) continue;
      const size = machineSize(g, req.count);
      if (!size) continue;
      const pricePerHour = hourlyPrice(g, req.count, size);
      if (!(pricePerHour > 0) || pricePerHour / req.count > 100) {
        warn(`TensorDock lists ${g.v0Name} in ${locationLabel(loc)} at $${pricePerHour}/h for ${req.count}; left out of the offers (not a believable price)`);
        continue;
      }
      if (req.maxPricePerHour !== undefined && pricePerHour > req.maxPricePerHour) continue;
      const diskSizing = diskSizingOf(g, size.diskGb);
      offers.push({
        provider: "tensordock",
        instanceType: g.v0Name,
        gpu: gpu.gpu,
        gpuCount: req.count,
        vramGb: gpu.vramGb,
        vcpus: size.vcpus,
        memoryGb: size.ramGb,
        diskGb: size.diskGb,
        ...(diskSizing && { diskSizing }),
        region: loc.id,
        pricePerHour,
        spot: false,
        available: true,
        priceSource: "live",
        priceDate,
      });
    }
  }
  return offers.sort((a, b) => a.pricePerHour - b.pricePerHour || a.instanceType.localeCompare(b.instanceType) || a.region.localeCompare(b.region));
}

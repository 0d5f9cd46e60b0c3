/**
 * The emulated Cloud Billing Catalog API: `GET /v1/services/6F81-5844-456A/skus` (Compute Engine's SKUs),
 * bearer-token authenticated, paged by an opaque `nextPageToken` (absent on the last page) in pages smaller
 * than the real 5000, so a client that stops after one page is caught.
 *
 * The SKUs are shaped as the real ones are (description, category.resourceFamily/resourceGroup/usageType,
 * serviceRegions, pricingInfo[].pricingExpression { usageUnit, tieredRates[].unitPrice { units, nanos } }):
 * per machine family a core SKU (per hour) and a RAM SKU (per GiB-hour), per GPU model an on-demand and a
 * "attached to Spot Preemptible VMs" SKU (per GPU-hour), Local SSD per GiB-month; each for the Americas and
 * EMEA multi-regions (EMEA ~10 % dearer, as Google's are), plus SKUs a client must skip: a commitment, a
 * Virtual Workstation GPU, N1 and T4 SKUs, a free first tier. Unit prices are chosen so that the Americas
 * sum of each type's parts is its dated-catalog price: the emulator then bills what it lists.
 */
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import { GCP_MACHINE_TYPES, type GcpMachineType } from "../machine-types.js";
import { COMPUTE_SERVICE_ID, composePrice, type Sku } from "../prices.js";
import { googleError } from "./render.js";

export const SKUS_PATH = `/v1/services/${COMPUTE_SERVICE_ID}/skus`;
export const EMULATED_PAGE_SIZE = 4;

const AMERICAS = ["us-central1", "us-east1", "us-east4", "us-west1", "us-west4", "southamerica-east1"];
const EMEA = ["europe-west1", "europe-west2", "europe-west4"];
const EMEA_FACTOR = 1.1;
const HOURS_PER_MONTH = 730;

/** Per family: vCPU per hour and RAM per GiB-hour, on demand and Spot (Americas). */
const FAMILY_RATES: Record<string, { core: number; ram: number; spotCore: number; spotRam: number }> = {
  A2: { core: 0.031611, ram: 0.004237, spotCore: 0.012644, spotRam: 0.001695 },
  A3: { core: 0.0366, ram: 0.0049, spotCore: 0.01464, spotRam: 0.00196 },
  G2: { core: 0.02291, ram: 0.002684, spotCore: 0.009164, spotRam: 0.001074 },
};
const LOCAL_SSD = { onDemand: 0.08, spot: 0.048 };

let skuSeq = 0;
const skuId = () => {
  const n = (0x1a2b3c + skuSeq++ * 7919).toString(16).toUpperCase().padStart(12, "0");
  return `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}`;
};

const money = (usd: number) => {
  const units = Math.floor(usd);
  return { currencyCode: "USD", units: String(units), nanos: Math.round((usd - units) * 1e9) };
};

function sku(description: string, o: { group: string; family?: string; usageType: string; unit: string; unitDescription: string; regions: readonly string[]; usd: number; freeFirstTier?: boolean }): Sku {
  const id = skuId();
  return {
    name: `services/${COMPUTE_SERVICE_ID}/skus/${id}`,
    skuId: id,
    description,
    category: { serviceDisplayName: "Compute Engine", resourceFamily: o.family ?? "Compute", resourceGroup: o.group, usageType: o.usageType },
    serviceRegions: [...o.regions],
    pricingInfo: [
      {
        summary: "",
        pricingExpression: {
          usageUnit: o.unit,
          displayQuantity: 1,
          tieredRates: [...(o.freeFirstTier ? [{ startUsageAmount: 0, unitPrice: money(0) }] : []), { startUsageAmount: o.freeFirstTier ? 1 : 0, unitPrice: money(o.usd) }],
          usageUnitDescription: o.unitDescription,
          baseUnit: o.unit === "h" ? "s" : o.unit === "GiBy.h" ? "By.s" : "By.s",
          baseUnitDescription: o.unit === "h" ? "second" : "byte second",
          baseUnitConversionFactor: o.unit === "h" ? 3600 : 3865470566400,
        },
        currencyConversionRate: 1,
        effectiveTime: "2025-10-01T07:00:00.000Z",
      },
    ],
    serviceProviderName: "Google",
    geoTaxonomy: { type: "MULTI_REGIONAL", regions: [...o.regions] },
  } as Sku;
}

/** What one GPU of `t` must cost for its parts to add up to the catalog's price. */
function gpuPrice(t: GcpMachineType, spot: boolean): number {
  const r = FAMILY_RATES[t.skus.family]!;
  const ssd = ((t.skus.localSsdGb ?? 0) * (spot ? LOCAL_SSD.spot : LOCAL_SSD.onDemand)) / HOURS_PER_MONTH;
  const rest = t.vcpus * (spot ? r.spotCore : r.core) + t.memoryGb * (spot ? r.spotRam : r.ram) + ssd;
  return ((spot ? t.spotPerHour : t.onDemandPerHour) - rest) / t.gpuCount;
}

/** The emulator's Compute Engine SKU list (a fresh copy: tests may change prices in theirs). */
export function emulatedSkus(): Sku[] {
  const out: Sku[] = [];
  for (const [place, regions, f] of [["Americas", AMERICAS, 1], ["EMEA", EMEA, EMEA_FACTOR]] as const) {
    for (const [family, r] of Object.entries(FAMILY_RATES)) {
      out.push(sku(`${family} Instance Core running in ${place}`, { group: "CPU", usageType: "OnDemand", unit: "h", unitDescription: "hour", regions, usd: r.core * f }));
      out.push(sku(`${family} Instance Ram running in ${place}`, { group: "RAM", usageType: "OnDemand", unit: "GiBy.h", unitDescription: "gibibyte hour", regions, usd: r.ram * f }));
      out.push(sku(`Spot Preemptible ${family} Instance Core running in ${place}`, { group: "CPU", usageType: "Preemptible", unit: "h", unitDescription: "hour", regions, usd: r.spotCore * f }));
      out.push(sku(`Spot Preemptible ${family} Instance Ram running in ${place}`, { group: "RAM", usageType: "Preemptible", unit: "GiBy.h", unitDescription: "gibibyte hour", regions, usd: r.spotRam * f }));
      // A commitment's SKU matches no part (its usageType and wording differ).
      out.push(sku(`Commitment v1: ${family} Cpu in ${place} for 1 Year`, { group: "CPU", usageType: "Commit1Yr", unit: "h", unitDescription: "hour", regions, usd: r.core * f * 0.63 }));
    }
    for (const t of GCP_MACHINE_TYPES) {
      out.push(sku(`${t.skus.gpu} GPU running in ${place}`, { group: "GPU", usageType: "OnDemand", unit: "h", unitDescription: "hour", regions, usd: gpuPrice(t, false) * f }));
      out.push(sku(`${t.skus.gpu} GPU attached to Spot Preemptible VMs running in ${place}`, { group: "GPU", usageType: "Preemptible", unit: "h", unitDescription: "hour", regions, usd: gpuPrice(t, true) * f }));
    }
    out.push(sku(`SSD backed Local Storage in ${place}`, { group: "LocalSSD", family: "Storage", usageType: "OnDemand", unit: "GiBy.mo", unitDescription: "gibibyte month", regions, usd: LOCAL_SSD.onDemand * f }));
    out.push(sku(`SSD backed Local Storage attached to Spot Preemptible VMs in ${place}`, { group: "LocalSSD", family: "Storage", usageType: "Preemptible", unit: "GiBy.mo", unitDescription: "gibibyte month", regions, usd: LOCAL_SSD.spot * f }));
    // Near misses a client must not take for a part.
    out.push(sku(`Nvidia L4 GPU Virtual Workstation running in ${place}`, { group: "GPU", usageType: "OnDemand", unit: "h", unitDescription: "hour", regions, usd: 0.2 * f }));
    out.push(sku(`Nvidia Tesla T4 GPU running in ${place}`, { group: "GPU", usageType: "OnDemand", unit: "h", unitDescription: "hour", regions, usd: 0.35 * f }));
    out.push(sku(`N1 Predefined Instance Core running in ${place}`, { group: "N1Standard", usageType: "OnDemand", unit: "h", unitDescription: "hour", regions, usd: 0.031611 * f }));
    out.push(sku(`Network Internet Egress from ${place} to ${place}`, { group: "InterregionEgress", family: "Network", usageType: "OnDemand", unit: "GiBy", unitDescription: "gibibyte", regions, usd: 0.12, freeFirstTier: true }));
  }
  return out;
}

/** What the emulator bills an hour of `t` in `zone`: its SKUs' sum, or the catalog price when they give none. */
export function emulatedPriceOf(skus: readonly Sku[], t: GcpMachineType, zone: string, spot: boolean): number {
  const p = composePrice(skus, t, zone, spot);
  return typeof p === "number" ? p : spot ? t.spotPerHour : t.onDemandPerHour;
}

/** `GET …/skus?pageSize=&pageToken=`: one page (the caller has authenticated the request). */
export function skusPage(skus: readonly Sku[], r: EmuRequest, maxPage = EMULATED_PAGE_SIZE): EmuReply {
  if (r.method !== "GET") return { status: 405, body: googleError(405, "INVALID_ARGUMENT", "badRequest", `${r.method} is not allowed here`) };
  const currency = r.query.get("currencyCode");
  if (currency && currency !== "USD") return { status: 400, body: googleError(400, "INVALID_ARGUMENT", "invalid", "the emulator prices in USD only") };
  const size = Math.min(maxPage, Number(r.query.get("pageSize") ?? maxPage) || maxPage);
  const token = r.query.get("pageToken");
  const start = token ? Number(Buffer.from(token, "base64url").toString("utf8").replace(/^offset:/, "")) : 0;
  if (!Number.isInteger(start) || start < 0 || start > skus.length) return { status: 400, body: googleError(400, "INVALID_ARGUMENT", "invalid", "Invalid page token") };
  const page = skus.slice(start, start + size);
  const next = start + size < skus.length ? Buffer.from(`offset:${start + size}`).toString("base64url") : undefined;
  return { status: 200, body: { skus: page, ...(next && { nextPageToken: next }) } };
}

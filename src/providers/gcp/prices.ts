/**
 * Live GCE prices from the **Cloud Billing Catalog API**: `GET https://cloudbilling.googleapis.com/v1/
 * services/6F81-5844-456A/skus` (6F81-5844-456A is Compute Engine's service id), authenticated with the same
 * ADC token as Compute (the API takes an OAuth token with the cloud-platform scope, or an API key; Kiln has
 * no key), pages of up to 5000 SKUs linked by `nextPageToken` (absent on the last page).
 *
 * Quirks, where they bite:
 * - There is **no server-side filter** (only currencyCode, pageSize, pageToken, startTime/endTime): every
 *   Compute Engine SKU is read, several pages, then matched here. The answer is cached per process
 *   ({@link GcpLivePrices}) and bounded by its own deadline, so `kiln offers` is not held up by it.
 * - A GPU machine's price is **not one SKU**. Accelerator-optimized types (A2, A3, G2) bundle their GPUs,
 *   yet the catalog still prices every part separately: vCPUs ("A2 Instance Core running in Americas",
 *   per hour), memory ("A2 Instance Ram …", per GiB-hour), each GPU ("Nvidia Tesla A100 GPU running in
 *   Americas", per GPU-hour) and any bundled Local SSD ("SSD backed Local Storage in …", per GiB-month,
 *   730 hours to the month). So one offer = Σ quantity × unit price over those SKUs (the type's `skus` in
 *   ./machine-types.ts). A part with no SKU in the region leaves *that offer* on the dated catalog, and
 *   says so: a price made of some parts only would be too low.
 * - Spot is usageType "Preemptible", with its own SKUs: "Spot Preemptible A2 Instance Core …", and for GPUs
 *   "Nvidia Tesla A100 GPU attached to Spot Preemptible VMs running in …". Commitments ("Commit1Yr"),
 *   "Virtual Workstation" GPUs and the like never match.
 * - The description's place ("Americas") is a multi-region label; `serviceRegions` is what says a SKU is
 *   sold in us-central1. Where several SKUs match one part in a region, the highest price is used: an
 *   estimate must not be low.
 * - `unitPrice` is google.type.Money: `units` (int64, a JSON string) + `nanos` (1e-9). A SKU with tiers
 *   (a free first tier) is read at its highest tier's price.
 * - With user credentials (`gcloud auth application-default login`), Google APIs may want a quota project
 *   (`x-goog-user-project`); GoogleAuth adds it when ADC names one. A refusal (403, the API not enabled)
 *   is one more reason the dated catalog stands in, with a warning.
 */
import { implausiblePrice } from "../price-check.js";
import { z } from "zod";
import { MIB, ResponseTooLarge, readBounded, refusedBody } from "../../base/bounded-body.js";
import { sleep } from "../../base/deadline.js";
import type { Logger } from "../../base/logger.js";
import { CATALOG_DATE } from "../catalog-row.js";
import { ProviderError } from "../provider.js";
import { GCP_MACHINE_TYPES, type GcpMachineType, regionOfZone } from "./machine-types.js";

export const COMPUTE_SERVICE_ID = "6F81-5844-456A";
export const BILLING_CATALOG_URL = `https://cloudbilling.googleapis.com/v1/services/${COMPUTE_SERVICE_ID}/skus`;
const HOURS_PER_MONTH = 730;

const Money = z.object({ currencyCode: z.string().optional(), units: z.union([z.string().regex(/^-?\d+$/), z.number().int()]).optional(), nanos: z.number().int().optional() }).passthrough();
const PricingInfo = z
  .object({
    effectiveTime: z.string().optional(),
    pricingExpression: z.object({ usageUnit: z.string(), tieredRates: z.array(z.object({ startUsageAmount: z.number().optional(), unitPrice: Money }).passthrough()) }).passthrough(),
  })
  .passthrough();
export const Sku = z
  .object({
    skuId: z.string(),
    description: z.string(),
    category: z.object({ resourceFamily: z.string().optional(), resourceGroup: z.string().optional(), usageType: z.string().optional() }).passthrough(),
    serviceRegions: z.array(z.string()).optional(),
    pricingInfo: z.array(PricingInfo).optional(),
  })
  .passthrough();
export type Sku = z.infer<typeof Sku>;
/** One page; proto3 JSON leaves out an empty `skus` and the last page's `nextPageToken`. */
export const SkuPage = z.object({ skus: z.array(Sku).optional(), nextPageToken: z.string().optional() }).passthrough();
const GoogleError = z.object({ error: z.object({ code: z.number().optional(), message: z.string().optional(), status: z.string().optional() }).passthrough() }).passthrough();

export interface BillingCatalogOptions {
  /** The skus endpoint (an emulator's); default {@link BILLING_CATALOG_URL}. */
  url?: string;
  /** The auth headers of one request (GoogleAuth/OAuth2Client `getRequestHeaders`). */
  headers(url: string): Promise<Headers>;
  /** Per page. Default 20 s. */
  requestTimeoutMs?: number;
  /** Pages followed at most (a loop guard). Default 40. */
  maxPages?: number;
}

/** Every Compute Engine SKU, all pages, parsed. Throws a ProviderError when the API fails or answers nonsense. */
export async function fetchComputeSkus(o: BillingCatalogOptions, signal: AbortSignal): Promise<Sku[]> {
  const base = o.url ?? BILLING_CATALOG_URL;
  const out: Sku[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  for (let page = 0; ; page++) {
    if (page >= (o.maxPages ?? 40)) throw new ProviderError("gcp", "fatal", `the Cloud Billing Catalog API gave more than ${o.maxPages ?? 40} pages of Compute Engine SKUs`, { code: "kiln/too-many-pages" });
    const url = `${base}?${new URLSearchParams({ currencyCode: "USD", pageSize: "5000", ...(token && { pageToken: token }) }).toString()}`;
    const p = parseAnswer(await getRetried(url, o, signal));
    out.push(...(p.skus ?? []));
    token = p.nextPageToken || undefined;
    if (!token) return out;
    if (seen.has(token)) throw new ProviderError("gcp", "fatal", "the Cloud Billing Catalog API repeated a page token", { code: "kiln/malformed-response" });
    seen.add(token);
  }
}

/** A 5xx, 429 or no answer is tried again (3 tries, backoff with jitter, Retry-After up to 2 s); the rest is final. */
async function getRetried(url: string, o: BillingCatalogOptions, signal: AbortSignal): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await get(url, o, signal);
    } catch (e) {
      if (signal.aborted || !(e instanceof ProviderError) || (e.kind !== "transient" && e.kind !== "rate-limited") || attempt >= 3) throw e;
      const wait = Math.min(2_000, e.retryAfterMs ?? 250 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
      await sleep(wait, signal);
    }
  }
}

async function get(url: string, o: BillingCatalogOptions, signal: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { headers: await o.headers(url), signal: AbortSignal.any([signal, AbortSignal.timeout(o.requestTimeoutMs ?? 20_000)]) });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new ProviderError("gcp", "transient", `the Cloud Billing Catalog API did not answer (${e instanceof Error ? e.message : String(e)})`, { code: "kiln/prices-unreachable", cause: e });
  }
  const text = await readPage(res, url);
  if (!res.ok) {
    const g = GoogleError.safeParse(safeJson(text));
    const detail = g.success ? `${g.data.error.status ?? res.status}: ${g.data.error.message ?? ""}`.trim() : `not Google's JSON error: ${JSON.stringify(text.slice(0, 80))}`;
    const kind = res.status === 429 ? "rate-limited" : res.status === 401 || res.status === 403 ? "auth" : res.status >= 500 ? "transient" : "fatal";
    const retryAfter = Number(res.headers.get("retry-after") ?? "");
    throw new ProviderError("gcp", kind, `the Cloud Billing Catalog API answered HTTP ${res.status} (${detail})`, { status: res.status, ...(retryAfter > 0 && { retryAfterMs: retryAfter * 1000 }) });
  }
  const body = safeJson(text);
  if (body === undefined) throw new ProviderError("gcp", "fatal", `the Cloud Billing Catalog API answered with a body that is not JSON (${JSON.stringify(text.slice(0, 80))})`, { code: "kiln/malformed-response" });
  return body;
}

/**
 * A page of up to 5000 SKUs is a few MiB; this is far above that and far below what hurts. Past it the
 * answer is not Google's (a proxy, an endless page): refused, and the catalog's prices are used instead.
 */
export const BILLING_CATALOG_MAX_PAGE_BYTES = 64 * MIB;

async function readPage(res: Response, url: string): Promise<string> {
  try {
    return await readBounded(res, BILLING_CATALOG_MAX_PAGE_BYTES);
  } catch (e) {
    if (!(e instanceof ResponseTooLarge)) throw e;
    throw new ProviderError("gcp", "fatal", refusedBody(`the Cloud Billing Catalog API (${new URL(url).origin})`, e), { cause: e, status: e.status, code: "kiln/response-too-large" });
  }
}

function parseAnswer(body: unknown): z.infer<typeof SkuPage> {
  const p = SkuPage.safeParse(body);
  if (p.success) return p.data;
  const i = p.error.issues[0];
  throw new ProviderError("gcp", "fatal", `the Cloud Billing Catalog API answered something Kiln cannot read: ${i ? `${i.path.join(".")}: ${i.message}` : "invalid"}`, { code: "kiln/malformed-response" });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface Part {
  /** The SKU description's stem, for messages. */
  what: string;
  re: RegExp;
  usageType: "OnDemand" | "Preemptible";
  unit: string;
  /** Units of the SKU per hour of the machine. */
  perHour: number;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The SKUs one hour of `t` is made of (see the module comment). */
export function partsOf(t: GcpMachineType, spot: boolean): Part[] {
  const sp = spot ? "Spot Preemptible " : "";
  const usageType = spot ? "Preemptible" : "OnDemand";
  const part = (what: string, unit: string, perHour: number): Part => ({ what, re: new RegExp(`^${esc(what)} (running )?in `, "i"), usageType, unit, perHour });
  const parts = [
    part(`${sp}${t.skus.family} Instance Core`, "h", t.vcpus),
    part(`${sp}${t.skus.family} Instance Ram`, "GiBy.h", t.memoryGb),
    part(spot ? `${t.skus.gpu} GPU attached to Spot Preemptible VMs` : `${t.skus.gpu} GPU`, "h", t.gpuCount),
  ];
  if (t.skus.localSsdGb) parts.push(part(spot ? "SSD backed Local Storage attached to Spot Preemptible VMs" : "SSD backed Local Storage", "GiBy.mo", t.skus.localSsdGb / HOURS_PER_MONTH));
  return parts;
}

/** A SKU's price per its usage unit, or why it cannot be used. */
export function unitPriceOf(s: Sku, unit: string): number | string {
  const info = [...(s.pricingInfo ?? [])].sort((a, b) => (a.effectiveTime ?? "").localeCompare(b.effectiveTime ?? "")).at(-1);
  if (!info || info.pricingExpression.tieredRates.length === 0) return `SKU ${s.skuId} (${s.description}) has no price`;
  if (info.pricingExpression.usageUnit !== unit) return `SKU ${s.skuId} (${s.description}) is priced per ${info.pricingExpression.usageUnit}, not per ${unit}`;
  const rates = info.pricingExpression.tieredRates.map((r) => ({ currency: r.unitPrice.currencyCode ?? "USD", usd: Number(r.unitPrice.units ?? 0) + (r.unitPrice.nanos ?? 0) / 1e9 }));
  const foreign = rates.find((r) => r.currency !== "USD");
  if (foreign) return `SKU ${s.skuId} (${s.description}) is priced in ${foreign.currency}`;
  const price = Math.max(...rates.map((r) => r.usd));
  if (!Number.isFinite(price) || price <= 0) return `SKU ${s.skuId} (${s.description}) is priced at $${price}`;
  return price;
}


/** The price of one hour of `t` in `zone`'s region from `skus`, or why there is none. */
export function composePrice(skus: readonly Sku[], t: GcpMachineType, zone: string, spot: boolean): number | string {
  const region = regionOfZone(zone);
  let total = 0;
  for (const p of partsOf(t, spot)) {
    const prices = skus.filter((s) => p.re.test(s.description) && s.category.usageType === p.usageType && (s.serviceRegions ?? []).includes(region)).map((s) => unitPriceOf(s, p.unit));
    if (prices.length === 0) return `no "${p.what}" SKU is sold in ${region}`;
    const usable = prices.filter((x): x is number => typeof x === "number");
    if (usable.length === 0) return String(prices[0]);
    total += Math.max(...usable) * p.perHour;
  }
  const rounded = Math.round(total * 10_000) / 10_000;
  const bad = implausiblePrice(rounded, t.gpuCount);
  return bad === undefined ? rounded : `the SKUs add up to ${bad}`;
}

/** Prices read at one time: `price` answers a number, or why that offer stays on the catalog. */
export interface PriceTable {
  /** When the SKUs were read (ISO): a live offer's `priceDate`, so its age shows. */
  at: string;
  price(t: GcpMachineType, zone: string, spot: boolean): number | string;
}

export interface LivePricesOptions extends BillingCatalogOptions {
  log?: Logger;
  /** How long one reading is used. Default 1 h (Google's list prices change monthly at most). */
  cacheMs?: number;
  /** How long a listing waits for the SKUs before the catalog stands in. Default 8 s (`kiln offers` waits 10). */
  timeoutMs?: number;
  now?(): number;
}

/**
 * The provider's live prices: the SKUs read once, kept `cacheMs`, shared by concurrent callers. A failure
 * is warned once and remembered for a minute (no refetch per listing), and the catalog stands in.
 */
export class GcpLivePrices {
  #table: { value: PriceTable | undefined; until: number } | undefined;
  #inflight: Promise<PriceTable | undefined> | undefined;
  readonly #warned = new Set<string>();
  constructor(private readonly o: LivePricesOptions) {}

  async table(signal: AbortSignal): Promise<PriceTable | undefined> {
    const now = this.o.now?.() ?? Date.now();
    if (this.#table && now < this.#table.until) return this.#table.value;
    this.#inflight ??= this.#read(signal).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #read(signal: AbortSignal): Promise<PriceTable | undefined> {
    const started = this.o.now?.() ?? Date.now();
    const deadline = AbortSignal.timeout(this.o.timeoutMs ?? 8_000);
    try {
      const skus = await fetchComputeSkus(this.o, AbortSignal.any([signal, deadline]));
      // Only the SKUs some type is made of are kept (a few dozen of tens of thousands).
      const stems = [true, false].flatMap((spot) => GCP_MACHINE_TYPES.flatMap((t) => partsOf(t, spot)));
      const wanted = skus.filter((s) => stems.some((p) => p.re.test(s.description)));
      this.#warned.delete("api");
      const table: PriceTable = {
        at: new Date(started).toISOString().replace(/\.\d+Z$/, "Z"),
        price: (t, zone, spot) => {
          const p = composePrice(wanted, t, zone, spot);
          if (typeof p === "string") this.#warn(`${t.name}|${zone}|${spot}`, `GCE: no live ${spot ? "Spot " : ""}price for ${t.name} in ${zone} (${p}); its catalog price (${CATALOG_DATE}) stands in, marked catalog`);
          return p;
        },
      };
      this.#table = { value: table, until: started + (this.o.cacheMs ?? 3_600_000) };
      return table;
    } catch (e) {
      if (signal.aborted) throw e;
      const why = deadline.aborted ? `no answer within ${(this.o.timeoutMs ?? 8_000) / 1000} s` : e instanceof Error ? e.message : String(e);
      this.#warn("api", `GCE live prices are unavailable (${why}); the dated catalog (${CATALOG_DATE}) stands in, marked catalog`);
      this.#table = { value: undefined, until: started + 60_000 };
      return undefined;
    }
  }

  #warn(key: string, msg: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.o.log?.warn(msg);
  }
}


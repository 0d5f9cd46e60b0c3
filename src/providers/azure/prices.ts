/**
 * Live prices from the Azure Retail Prices API (`GET https://prices.azure.com/api/retail/prices`, no
 * auth, OData `$filter`, pages of 100 linked by `NextPageLink`). Kiln reads, per region and size, the
 * Linux pay-as-you-go meter and its Spot meter: items of type `Consumption` whose product is not a
 * Windows one, billed per `1 Hour`; `skuName` ends in " Spot" for Spot ("Low Priority" meters are the
 * retired low-priority VMs and are skipped). When the API cannot be reached, the dated catalog is used.
 */
import { MAX_API_RESPONSE_BYTES, ResponseTooLarge, readBoundedJson, refusedBody } from "../../base/bounded-body.js";
import { ProviderError } from "../provider.js";
import { type RetailItem, RetailPage, parseAzure } from "./schema.js";

export const RETAIL_PRICES_URL = "https://prices.azure.com/api/retail/prices";

export interface LivePrice {
  onDemand?: number;
  spot?: number;
  date: string;
}

export interface RetailPricesOptions {
  url?: string;
  timeoutMs?: number;
  /** Pages followed at most (a filter by region and sizes fits in one or two). */
  maxPages?: number;
}

export const priceKey = (region: string, armSku: string) => `${region.toLowerCase()}|${armSku.toLowerCase()}`;

function classify(i: RetailItem): "onDemand" | "spot" | undefined {
  if (i.type !== "Consumption" || i.currencyCode !== "USD" || i.unitOfMeasure !== "1 Hour") return undefined;
  if (/windows/i.test(i.productName) || /low priority/i.test(i.skuName)) return undefined;
  return /\bspot$/i.test(i.skuName) ? "spot" : "onDemand";
}

/** A page is 100 meters (tens of KiB); past the shared API ceiling it is not Microsoft's answer: refused. */
async function readRetailPage(res: Response, url: string): Promise<unknown> {
  let page: { json: unknown };
  try {
    page = await readBoundedJson(res, MAX_API_RESPONSE_BYTES);
  } catch (e) {
    if (!(e instanceof ResponseTooLarge)) throw e;
    throw new ProviderError("azure", "fatal", refusedBody(`Azure Retail Prices API (${new URL(url).origin})`, e), { cause: e, status: e.status, code: "kiln/response-too-large" });
  }
  if (page.json === undefined) throw new Error(`HTTP ${res.status} with a body that is not JSON`);
  return page.json;
}

/** Prices for `skus` in `regions`, keyed by {@link priceKey}. Throws a ProviderError when the API fails. */
export async function fetchRetailPrices(regions: readonly string[], skus: readonly string[], signal: AbortSignal, o: RetailPricesOptions = {}): Promise<Map<string, LivePrice>> {
  const regionClause = regions.map((r) => `armRegionName eq '${r}'`).join(" or ");
  const skuClause = skus.map((s) => `armSkuName eq '${s}'`).join(" or ");
  const filter = `serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and (${regionClause}) and (${skuClause})`;
  let next: string | null | undefined = `${o.url ?? RETAIL_PRICES_URL}?${new URLSearchParams({ $filter: filter }).toString()}`;
  const out = new Map<string, LivePrice>();
  const date = new Date().toISOString().slice(0, 10);
  for (let page = 0; next && page < (o.maxPages ?? 10); page++) {
    let body: unknown;
    try {
      const res = await fetch(next, { signal: AbortSignal.any([signal, AbortSignal.timeout(o.timeoutMs ?? 15_000)]), headers: { accept: "application/json" } });
      if (!res.ok) throw new ProviderError("azure", res.status === 429 ? "rate-limited" : "transient", `Azure Retail Prices API answered HTTP ${res.status}`, { status: res.status });
      body = await readRetailPage(res, next);
    } catch (e) {
      if (signal.aborted) throw e;
      if (e instanceof ProviderError) throw e;
      throw new ProviderError("azure", "transient", `Azure Retail Prices API: ${e instanceof Error ? e.message : String(e)}`, { cause: e, code: "kiln/prices-unreachable" });
    }
    const p = parseAzure(RetailPage, body, "Retail Prices API");
    for (const i of p.Items) {
      const kind = classify(i);
      if (!kind) continue;
      const k = priceKey(i.armRegionName, i.armSkuName);
      const cur = out.get(k) ?? { date };
      // Several meters can match (a new effective date): keep the highest, an estimate must not be low.
      cur[kind] = Math.max(cur[kind] ?? 0, i.retailPrice);
      out.set(k, cur);
    }
    next = p.NextPageLink;
  }
  return out;
}

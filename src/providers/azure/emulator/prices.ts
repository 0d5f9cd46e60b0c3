/**
 * The emulated Azure Retail Prices API (`GET /api/retail/prices?$filter=…`, no auth): the items Kiln reads
 * for each size and region — the Linux pay-as-you-go meter and its Spot meter — plus a Windows and a
 * DevTest item that the client must skip, paged by `NextPageLink` like the real API (which pages by 100).
 * Only `eq` clauses on armRegionName, armSkuName and serviceName are applied; the rest of the filter is
 * ignored (the real API's OData grammar is much larger).
 */
import type { AzureSize } from "../catalog.js";

export interface EmulatedPrice {
  size: AzureSize;
  region: string;
  onDemand: number;
  spot: number;
}

export interface PriceItem {
  currencyCode: string;
  retailPrice: number;
  unitPrice: number;
  armRegionName: string;
  location: string;
  effectiveStartDate: string;
  meterName: string;
  productName: string;
  skuName: string;
  serviceName: string;
  unitOfMeasure: string;
  type: string;
  armSkuName: string;
  isPrimaryMeterRegion: boolean;
}

const item = (p: EmulatedPrice, price: number, o: { spot?: boolean; windows?: boolean; type?: string }): PriceItem => {
  const short = p.size.armSku.replace(/^Standard_/, "").replaceAll("_", " ");
  return {
    currencyCode: "USD",
    retailPrice: price,
    unitPrice: price,
    armRegionName: p.region,
    location: p.region,
    effectiveStartDate: "2025-10-01T00:00:00Z",
    meterName: o.spot ? `${short} Spot` : short,
    productName: `Virtual Machines ${short.split(" ")[0]} Series${o.windows ? " Windows" : ""}`,
    skuName: o.spot ? `${short} Spot` : short,
    serviceName: "Virtual Machines",
    unitOfMeasure: "1 Hour",
    type: o.type ?? "Consumption",
    armSkuName: p.size.armSku,
    isPrimaryMeterRegion: true,
  };
};

export function priceItems(prices: readonly EmulatedPrice[], filter: string): PriceItem[] {
  const eq = (field: string) => new RegExp(`${field}\\s+eq\\s+'([^']*)'`, "i").exec(filter)?.[1];
  const region = eq("armRegionName");
  const sku = eq("armSkuName");
  const service = eq("serviceName");
  if (service !== undefined && service !== "Virtual Machines") return [];
  return prices
    .filter((p) => (region === undefined || p.region === region) && (sku === undefined || p.size.armSku.toLowerCase() === sku.toLowerCase()))
    .flatMap((p) => [item(p, p.onDemand, {}), item(p, p.spot, { spot: true }), item(p, p.onDemand * 1.8, { windows: true }), item(p, p.onDemand * 0.5, { type: "DevTestConsumption" })]);
}

export const PRICE_PAGE_SIZE = 5;

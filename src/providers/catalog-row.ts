/**
 * The dated price catalog's row type and sources. Each provider's folder holds its own rows (its
 * descriptor's `catalog`); core/catalog searches them all. Every row carries its source and date, because a
 * price without both is a guess. Live prices from a provider's API replace its rows when available.
 *
 * Sources (cited per row):
 * - RUNBOOK: runbook.md, executive-summary table (A100 40GB, 2025-10-30).
 * - RUNBOOK_ALT: runbook.md, "Alternative Providers" and the Lambda console step (80GB SXM at $1.79).
 * - RUNBOOK_SPOT: runbook.md, "Strategy 4" spot table; we take the *top* of each range, because an
 *   estimate that is too low is the one that breaks a budget.
 * - providers.md's per-provider examples are cited in each provider's own catalog.
 * - PROVIDERS_SKY: providers.md, SkyPilot's lambda vms.csv example row.
 * - PUBLIC: the provider's public pricing page around 2025-10; not in the reference docs, so treat
 *   as approximate until live prices replace them.
 */
import type { DiskSizing, ProviderName } from "./provider.js";

export const CATALOG_DATE = "2025-10-30";

export const SOURCES = {
  RUNBOOK: "runbook.md price table",
  RUNBOOK_ALT: "runbook.md alternatives",
  RUNBOOK_SPOT: "runbook.md spot table (top of range)",
  PROVIDERS_SKY: "providers.md SkyPilot catalog",
  PUBLIC: "public price page (approx.)",
} as const;

/**
 * "budget" providers are cheaper but, per the runbook, "may have availability issues or lack
 * enterprise features"; the percentage column compares against the cheapest *reliable* offer.
 */
export type ProviderTier = "reliable" | "budget";

export interface CatalogRow {
  provider: ProviderName;
  instanceType: string;
  /** Canonical GPU name (see src/core/gpu/names.ts). */
  gpu: string;
  gpuCount: number;
  /** Memory per GPU. */
  vramGb: number;
  pricePerHour: number;
  spotPricePerHour?: number;
  source: string;
  spotSource?: string;
  date: string;
  /** Host RAM and local disk where the provider publishes them, in its unit (Lambda: GiB). */
  memoryGb?: number;
  diskGb?: number;
  /** How the disk can be sized at launch (Offer.diskSizing), where the provider's own rule is known without its API. */
  diskSizing?: DiskSizing;
}

/** A one-GPU catalog row dated {@link CATALOG_DATE}; `extra` sets the rest. */
export const catalogRow = (provider: ProviderName, instanceType: string, gpu: string, vramGb: number, pricePerHour: number, source: string, extra: Partial<CatalogRow> = {}): CatalogRow => ({
  provider,
  instanceType,
  gpu,
  gpuCount: 1,
  vramGb,
  pricePerHour,
  source,
  date: CATALOG_DATE,
  ...extra,
});

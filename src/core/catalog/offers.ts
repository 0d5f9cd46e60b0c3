/**
 * Finding offers: the catalog's rows (or a provider's live prices, when a live source is given)
 * filtered by what a job needs, as {@link Offer}s the planner and `kiln offers` rank.
 */
import { deadlineSignal } from "../../base/deadline.js";
import { UserError, errorMessage } from "../../base/errors.js";
import { GPU_MODELS, resolveGpuAlias } from "../gpu/names.js";
import type { GpuRequest, Offer, ProviderName } from "../../providers/provider.js";
import { type CatalogRow, catalogRows, type ProviderTier, tierOf } from "./rows.js";

export interface OfferQuery {
  /** GPU names as the user typed them ("A100", "h100", "A100-40GB") or "any". */
  gpus: readonly string[] | "any";
  count: number;
  minVramGb: number;
  spot: "never" | "allowed" | "prefer";
  /** Allow-list; undefined means every provider in the catalog. */
  providers?: readonly ProviderName[];
  regions?: readonly string[];
  maxPricePerHour?: number;
}

/** An offer with where its price came from and the tier of its provider. */
export interface PricedOffer extends Offer {
  source: string;
  tier: ProviderTier;
  /** The on-demand price of the same machine, also set on spot offers for comparison. */
  onDemandPricePerHour: number;
  /** The spot price of the same machine where the provider sells spot. */
  spotPricePerHour?: number;
}

/**
 * A provider's live price source. The hook for providers to replace catalog rows: when given for a
 * provider and it answers, that provider's catalog rows are dropped in favour of its answer.
 */
export type LiveOffers = (req: GpuRequest, signal: AbortSignal) => Promise<Offer[]>;

/**
 * A live source that gives up after `ms`, for commands that only show or plan prices (`kiln offers`,
 * `kiln plan`): the catalog stands in rather than the user waiting out a client's full retry budget
 * (Lambda's: 5 tries of up to 30 s). The caller's own abort still passes through as it is.
 */
export function withDeadline(source: LiveOffers, ms: number): LiveOffers {
  return async (req, signal) => {
    const bounded = deadlineSignal(ms, signal);
    try {
      return await source(req, bounded);
    } catch (e) {
      if (!signal.aborted && bounded.aborted) throw new Error(`no answer within ${ms / 1000} s`, { cause: e });
      throw e;
    }
  };
}

export interface OfferSources {
  catalog?: readonly CatalogRow[];
  live?: Partial<Record<ProviderName, LiveOffers>>;
  signal?: AbortSignal;
}

export interface OfferSearch {
  offers: PricedOffer[];
  /** Live sources that failed (their catalog rows were used instead). */
  warnings: string[];
}

/** Canonical names for typed GPU names; a name nothing matches is a UserError listing the known ones. */
export function resolveGpuNames(typed: readonly string[] | "any"): string[] | "any" {
  if (typed === "any") return "any";
  const unknown = typed.filter((t) => resolveGpuAlias(t).length === 0);
  if (unknown.length > 0) {
    throw new UserError(`unknown GPU ${unknown.map((u) => `"${u}"`).join(", ")}`, {
      exitCode: 2,
      hint: `known GPUs: ${GPU_MODELS.map((g) => g.name).join(", ")} (aliases like A100, h100, 4090 work)`,
    });
  }
  return [...new Set(typed.flatMap(resolveGpuAlias))];
}

function fromRow(r: CatalogRow, spot: boolean): PricedOffer {
  const offer: PricedOffer = {
    provider: r.provider,
    instanceType: r.instanceType,
    gpu: r.gpu,
    gpuCount: r.gpuCount,
    vramGb: r.vramGb,
    region: "any",
    pricePerHour: spot && r.spotPricePerHour !== undefined ? r.spotPricePerHour : r.pricePerHour,
    spot,
    available: undefined,
    priceSource: "catalog",
    priceDate: r.date,
    source: spot ? (r.spotSource ?? r.source) : r.source,
    tier: tierOf(r.provider),
    onDemandPricePerHour: r.pricePerHour,
  };
  if (r.spotPricePerHour !== undefined) offer.spotPricePerHour = r.spotPricePerHour;
  if (r.memoryGb !== undefined) offer.memoryGb = r.memoryGb;
  if (r.diskGb !== undefined) offer.diskGb = r.diskGb;
  if (r.diskSizing !== undefined) offer.diskSizing = r.diskSizing;
  return offer;
}

const fromLive = (o: Offer): PricedOffer => ({
  ...o,
  source: o.priceSource === "live" ? "live" : "provider catalog",
  tier: tierOf(o.provider),
  onDemandPricePerHour: o.pricePerHour,
});

/**
 * Offers that satisfy `q`, cheapest first (ties: provider allow-list order, then more VRAM).
 *
 * @example
 *   const { offers } = await findOffers({ gpus: ["A100"], count: 1, minVramGb: 40, spot: "never" });
 *   offers[0]?.provider; // "thunder" ($0.66/h in the 2025-10-30 catalog)
 */
export async function findOffers(q: OfferQuery, sources: OfferSources = {}): Promise<OfferSearch> {
  const gpus = resolveGpuNames(q.gpus);
  const allowed = (p: ProviderName) => q.providers === undefined || q.providers.includes(p);
  const warnings: string[] = [];
  const liveProviders = new Set<ProviderName>();
  const live: PricedOffer[] = [];
  const signal = sources.signal ?? new AbortController().signal;
  const req: GpuRequest = { gpus, count: q.count, minVramGb: q.minVramGb, spot: q.spot, ...(q.regions ? { regions: q.regions } : {}) };
  for (const [provider, fetchOffers] of Object.entries(sources.live ?? {}) as [ProviderName, LiveOffers][]) {
    if (!allowed(provider)) continue;
    try {
      live.push(...(await fetchOffers(req, signal)).map(fromLive));
      liveProviders.add(provider);
    } catch (e) {
      if (signal.aborted) throw e;
      warnings.push(`${provider}: live prices unavailable (${errorMessage(e)}); using the catalog`);
    }
  }
  const catalog = (sources.catalog ?? catalogRows())
    .filter((r) => !liveProviders.has(r.provider))
    .flatMap((r) => (q.spot !== "never" && r.spotPricePerHour !== undefined ? [fromRow(r, false), fromRow(r, true)] : [fromRow(r, false)]));
  const order = (p: ProviderName) => (q.providers ? q.providers.indexOf(p) : 0);
  const offers = [...live, ...catalog]
    .filter((o) => allowed(o.provider))
    .filter((o) => gpus === "any" || gpus.includes(o.gpu))
    .filter((o) => o.gpuCount === q.count && o.vramGb >= q.minVramGb)
    .filter((o) => q.spot !== "never" || !o.spot)
    .filter((o) => !q.regions || o.region === "any" || q.regions.includes(o.region))
    .filter((o) => q.maxPricePerHour === undefined || o.pricePerHour <= q.maxPricePerHour)
    .sort((a, b) => a.pricePerHour - b.pricePerHour || order(a.provider) - order(b.provider) || b.vramGb - a.vramGb);
  return { offers, warnings };
}

/**
 * The cheapest on-demand offer from a reliable provider (of one GPU model when `gpu` is given): what the
 * % column compares against. Per GPU, because "+466% vs an RTX 4090" says nothing about an H100's price.
 */
export function baselineOf(offers: readonly PricedOffer[], gpu?: string): PricedOffer | undefined {
  return offers
    .filter((o) => o.tier === "reliable" && !o.spot && (gpu === undefined || o.gpu === gpu))
    .sort((a, b) => a.pricePerHour - b.pricePerHour)[0];
}

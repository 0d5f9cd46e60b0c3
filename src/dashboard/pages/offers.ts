/**
 * `kiln offers` as a page: the same search (src/core/catalog findOffers), the same rows (offerRow) and the
 * same flags as a form, plus each price's age. Live prices come from the sources the CLI passes (a
 * configured provider's API); without them, the dated catalog. A text box filters the rows as you type.
 */
import { UserError, errorMessage } from "../../base/errors.js";
import { CATALOG_DATE, OFFER_HEADER, baselineOf, findOffers, mergeRegions, offerRow, type PricedOffer } from "../../core/catalog/index.js";
import { PROVIDER_NAMES } from "../../core/spec/provider-names.js";
import type { DashboardContext } from "../context.js";
import { type Html, html } from "../html.js";
import { page } from "./layout.js";

export interface OfferFilters {
  gpu: string;
  minVram: string;
  hours: string;
  spot: boolean;
  provider: string;
}

export function filtersFrom(q: URLSearchParams): OfferFilters {
  const get = (k: string) => (q.get(k) ?? "").slice(0, 100);
  return { gpu: get("gpu"), minVram: get("min-vram"), hours: get("hours"), spot: q.get("spot") === "on", provider: get("provider") };
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter((x) => x !== "");

function positive(name: string, raw: string, fallback: number): number {
  if (raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UserError(`${name}: expected a positive number, got "${raw}"`);
  return n;
}

function ageOf(o: PricedOffer, nowMs: number): string {
  if (o.priceSource === "live") return "now";
  const days = Math.floor((nowMs - Date.parse(`${o.priceDate}T00:00:00Z`)) / 86_400_000);
  return Number.isFinite(days) ? `${days} d` : "—";
}

export async function offersPage(ctx: DashboardContext, f: OfferFilters, signal: AbortSignal): Promise<{ status: number; body: string }> {
  let table: Html;
  let status = 200;
  const warnings: string[] = [];
  try {
    const hours = positive("hours", f.hours, 12);
    const providers = list(f.provider);
    const bad = providers.find((p) => !(PROVIDER_NAMES as readonly string[]).includes(p));
    if (bad !== undefined) throw new UserError(`provider: unknown provider "${bad}" (known: ${PROVIDER_NAMES.join(", ")})`);
    const live = ctx.liveOffers ? await ctx.liveOffers().catch((e: unknown) => {
      warnings.push(`live prices unavailable (${errorMessage(e)}); showing the catalog`);
      return undefined;
    }) : undefined;
    const gpus = list(f.gpu);
    const r = await findOffers(
      { gpus: gpus.length > 0 ? gpus : "any", count: 1, minVramGb: positive("min-vram", f.minVram, 1), spot: f.spot ? "allowed" : "never", ...(providers.length > 0 ? { providers: providers as (typeof PROVIDER_NAMES)[number][] } : {}) },
      { ...(live ? { live } : {}), signal },
    );
    warnings.push(...r.warnings);
    const now = ctx.now();
    const rows = mergeRegions(r.offers).map((o) => ({ o, cells: offerRow(o, hours, baselineOf(r.offers, o.gpu)?.pricePerHour) }));
    const head = [...OFFER_HEADER.map((h) => (h === "cost" ? `cost ${hours} h` : h)), "price age"];
    table =
      rows.length === 0
        ? html`<p>No offers match. Loosen the GPU, memory or provider filters.</p>`
        : html`<p><label>Filter rows <input id="row-filter" type="search" placeholder="e.g. lambda, H100"></label></p>
<table data-filter-rows><caption class="muted">${rows.length} offers; catalog prices from ${CATALOG_DATE}</caption><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${rows.map(({ o, cells }) => html`<tr data-provider="${o.provider}">${cells.map((c) => html`<td>${c}</td>`)}<td>${ageOf(o, now)}</td></tr>`)}</tbody></table>`;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    status = 400;
    table = html`<p class="notice failed" role="alert">${e.message}${e.hint ? html`<br>→ ${e.hint}` : ""}</p>`;
  }
  const body = html`<h1>Offers</h1>
<form class="filters" method="get" action="/offers">
<label>GPU (comma-separated) <input name="gpu" value="${f.gpu}" placeholder="A100, H100, 4090"></label>
<label>Min. VRAM (GB) <input name="min-vram" value="${f.minVram}" inputmode="decimal" size="6"></label>
<label>Hours <input name="hours" value="${f.hours}" inputmode="decimal" size="6" placeholder="12"></label>
<label>Providers <input name="provider" value="${f.provider}" placeholder="lambda,runpod"></label>
<label><span>Spot</span><input type="checkbox" name="spot"${f.spot ? html` checked` : ""}></label>
<button type="submit">Show offers</button></form>
${warnings.map((w) => html`<p class="notice">${w}</p>`)}${table}`;
  return { status, body: page({ title: "Offers", section: "offers", body }) };
}

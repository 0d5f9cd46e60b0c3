/** `kiln offers`: what a GPU costs where, from the dated catalog (live prices where a provider has them). */
import { UserError } from "../../base/errors.js";
import type { OfferSources } from "../../core/catalog/index.js";
import { type CommandContext, defineCommand } from "../command.js";
import { credentialsError } from "./check.js";

/** How long `kiln offers` and `kiln plan` wait for a provider's live prices before using the catalog. */
const LIVE_PRICES_DEADLINE_MS = 15_000;

/**
 * Live price sources for the providers a command may use: each rentable cloud with credentials configured
 * (its env vars or the credentials file), so its live prices and capacity replace its catalog rows. A cloud
 * without credentials loads nothing (its client and schemas cost start-up time).
 */
export async function liveOfferSources(ctx: CommandContext, providers: readonly string[] | undefined): Promise<NonNullable<OfferSources["live"]>> {
  const { rentableClouds } = await import("../../providers/registry.js");
  const pctx = { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger };
  const wanted = rentableClouds().filter((d) => (providers === undefined || providers.includes(d.name)) && d.hasCredentials?.(pctx) !== false);
  if (wanted.length === 0) return {};
  const { withDeadline } = await import("../../core/catalog/index.js");
  const live: NonNullable<OfferSources["live"]> = {};
  for (const d of wanted) {
    const cloud = await d.configured?.(pctx).catch((e: unknown) => {
      throw credentialsError(e);
    });
    if (cloud) live[d.name] = withDeadline((req, signal) => cloud.provider.listOffers(req, signal), LIVE_PRICES_DEADLINE_MS);
  }
  return live;
}

/** A positive number from a flag, or a UserError naming the flag. */
export function numberFlag(name: string, raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n <= 0) {
    throw new UserError(`--${name}: expected a positive number, got "${String(raw)}"`, { exitCode: 2 });
  }
  return n;
}

export const offersCommand = defineCommand({
  name: "offers",
  summary: "List GPU offers by price: provider, instance, VRAM, $/h and the cost for a run",
  options: {
    gpu: { type: "string", description: "GPU name or alias, comma-separated (A100, a100-40, H100, 4090)", placeholder: "NAME" },
    "min-vram": { type: "string", description: "Minimum memory per GPU in GB", placeholder: "GB" },
    hours: { type: "string", description: "Hours to price the run for (default 12, the runbook's run)", placeholder: "H" },
    spot: { type: "boolean", description: "Include spot/preemptible offers" },
    provider: { type: "string", description: "Only these providers, comma-separated", placeholder: "NAMES" },
    json: { type: "boolean", description: "Print the offers as JSON" },
  },
  details: "Prices marked `catalog` come from the dated catalog (runbook.md, providers.md); `vs base` compares with the cheapest\non-demand offer from a reliable provider (budget providers like Thunder and TensorDock may lack capacity or features).",
  async handler(ctx, args) {
    const { findOffers, baselineOf, mergeRegions, OFFER_HEADER, offerRow, renderTable, CATALOG_DATE } = await import("../../core/catalog/index.js");
    const { PROVIDER_NAMES } = await import("../../core/spec/provider-names.js");
    const v = args.values;
    const list = (raw: unknown) => (typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : undefined);
    const providers = list(v["provider"]);
    const badProvider = providers?.find((p) => !(PROVIDER_NAMES as readonly string[]).includes(p));
    if (badProvider !== undefined) throw new UserError(`--provider: unknown provider "${badProvider}"`, { exitCode: 2, hint: `known: ${PROVIDER_NAMES.join(", ")}` });
    const hours = numberFlag("hours", v["hours"], 12);
    const live = await liveOfferSources(ctx, providers);
    const { offers, warnings } = await findOffers(
      {
        gpus: list(v["gpu"]) ?? "any",
        count: 1,
        minVramGb: numberFlag("min-vram", v["min-vram"], 1),
        spot: v["spot"] === true ? "allowed" : "never",
        ...(providers ? { providers } : {}),
      },
      { live, signal: ctx.signal },
    );
    for (const w of warnings) ctx.logger.warn(w);
    const baseline = baselineOf(offers);
    if (v["json"] === true) {
      ctx.io.out(`${JSON.stringify({ hours, baseline: baseline ?? null, offers }, null, 2)}\n`);
      return 0;
    }
    if (offers.length === 0) {
      ctx.io.out("No offers match. Loosen --gpu/--min-vram/--provider, or run `kiln offers` to see everything.\n");
      return 1;
    }
    const rows = mergeRegions(offers).map((o) => offerRow(o, hours, baselineOf(offers, o.gpu)?.pricePerHour));
    const header = OFFER_HEADER.map((h) => (h === "cost" ? `cost ${hours}h` : h));
    ctx.io.out(`${renderTable(header, rows)}\n\n`);
    const gpus = new Set(offers.map((o) => o.gpu));
    if (gpus.size > 1) ctx.io.out("vs base: against the cheapest reliable on-demand offer of the same GPU.\n");
    else if (baseline) ctx.io.out(`Baseline: ${baseline.provider} ${baseline.instanceType} at $${baseline.pricePerHour.toFixed(2)}/h (cheapest reliable on-demand offer).\n`);
    if (offers.some((o) => o.priceSource === "catalog")) {
      const days = Math.floor((Date.now() - Date.parse(`${CATALOG_DATE}T00:00:00Z`)) / 86_400_000);
      ctx.io.out(`Catalog prices are from ${CATALOG_DATE} (${days} days old); check them before a long run, live prices replace them once a provider is configured.\n`);
    }
    return 0;
  },
});

/**
 * `kiln offers`: what a GPU costs where — live from every configured cloud (asked in parallel, each under a
 * deadline), from the dated catalog for the rest — and, under the table, where each provider's prices came from.
 */
import { UserError } from "../../base/errors.js";
import type { LiveOffers, OfferSources } from "../../core/catalog/index.js";
import { type CommandContext, defineCommand } from "../command.js";
import { credentialsError } from "./check.js";

/** The dashboard's bound on one provider's live prices (it asks them one after another). */
const DASHBOARD_DEADLINE_MS = 15_000;

/** Where each allowed cloud's prices can come from: a configured account (live) or only its catalog. */
export interface PriceSources {
  live: Record<string, LiveOffers>;
  /** Configured against an emulator (tests, `kiln emulate`), not the real API. */
  emulated: string[];
  /** Clouds Kiln can rent whose credentials are not configured: catalog rows. */
  notConfigured: string[];
  /** Clouds Kiln prices from the catalog only (no API client yet). */
  catalogOnly: string[];
  /** Clouds whose account could not be set up in time (their catalog rows stand in), with why. */
  unavailable: Record<string, string>;
}

/** How long setting up one cloud's account (its credentials chain, its client) may take before its catalog stands in. */
const ACCOUNT_SETUP_DEADLINE_MS = 10_000;

/**
 * The price sources for the clouds a command may use: each rentable cloud with credentials configured (its
 * env vars or the credentials file) gives live prices and capacity. Accounts are set up in parallel. A
 * cloud without credentials loads nothing (its client and schemas cost start-up time).
 */
export async function priceSources(ctx: CommandContext, providers: readonly string[] | undefined, setupDeadlineMs = ACCOUNT_SETUP_DEADLINE_MS): Promise<PriceSources> {
  const { providers: all } = await import("../../providers/registry.js");
  const pctx = { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger };
  const clouds = all().filter((d) => d.kind === "cloud" && (providers === undefined || providers.includes(d.name)));
  const out: PriceSources = { live: {}, emulated: [], notConfigured: [], catalogOnly: [], unavailable: {} };
  const accounts = await Promise.all(
    clouds.map(async (d) => {
      if (!d.configured) return { d, kind: "catalog-only" as const };
      if (d.hasCredentials?.(pctx) === false) return { d, kind: "not-configured" as const };
      // An unsafe credentials file is the user's error (thrown); an account that is slow to set up (a
      // credentials chain that waits on a metadata service) only loses its live prices.
      const setup = d.configured(pctx).catch((e: unknown) => {
        throw credentialsError(e);
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), setupDeadlineMs);
      });
      setup.catch(() => undefined);
      const cloud = await Promise.race([setup, late]).finally(() => clearTimeout(timer));
      if (cloud === "late") return { d, kind: "unavailable" as const, why: `its account was not set up within ${setupDeadlineMs / 1000} s` };
      return cloud ? { d, kind: "live" as const, cloud } : { d, kind: "not-configured" as const };
    }),
  );
  for (const a of accounts) {
    if (a.kind === "catalog-only") out.catalogOnly.push(a.d.name);
    else if (a.kind === "not-configured") out.notConfigured.push(a.d.name);
    else if (a.kind === "unavailable") out.unavailable[a.d.name] = a.why;
    else {
      const provider = a.cloud.provider;
      out.live[a.d.name] = (req, signal) => provider.listOffers(req, signal);
      if (a.cloud.emulated) out.emulated.push(a.d.name);
    }
  }
  return out;
}

/** Live price sources only, each bounded (the dashboard asks them in turn through findOffers). */
export async function liveOfferSources(ctx: CommandContext, providers: readonly string[] | undefined): Promise<NonNullable<OfferSources["live"]>> {
  const { withDeadline } = await import("../../core/catalog/index.js");
  const { live } = await priceSources(ctx, providers);
  return Object.fromEntries(Object.entries(live).map(([name, source]) => [name, withDeadline(source, DASHBOARD_DEADLINE_MS)]));
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
    deadline: { type: "string", description: "Seconds to wait for each provider's live prices (default 10); providers are asked in parallel", placeholder: "S" },
    json: { type: "boolean", description: "Print the offers as JSON" },
  },
  details: "Prices marked `catalog` come from the dated catalog (runbook.md, providers.md); `vs base` compares with the cheapest\non-demand offer from a reliable provider (budget providers like Thunder and TensorDock may lack capacity or features).",
  async handler(ctx, args) {
    const { findOffers, baselineOf, mergeRegions, OFFER_HEADER, offerRow, renderTable, resolveGpuNames, CATALOG_DATE } = await import("../../core/catalog/index.js");
    const { PROVIDER_NAMES } = await import("../../core/spec/provider-names.js");
    const v = args.values;
    const list = (raw: unknown) => (typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : undefined);
    const providers = list(v["provider"]);
    const badProvider = providers?.find((p) => !(PROVIDER_NAMES as readonly string[]).includes(p));
    if (badProvider !== undefined) throw new UserError(`--provider: unknown provider "${badProvider}"`, { exitCode: 2, hint: `known: ${PROVIDER_NAMES.join(", ")}` });
    const hours = numberFlag("hours", v["hours"], 12);
    const { askProviders, answeredSources, priceSourceLines, LIVE_PRICES_DEADLINE_MS } = await import("../../core/planner/live-prices.js");
    const deadlineMs = numberFlag("deadline", v["deadline"], LIVE_PRICES_DEADLINE_MS / 1000) * 1000;
    const query = {
      gpus: resolveGpuNames(list(v["gpu"]) ?? "any"),
      count: 1,
      minVramGb: numberFlag("min-vram", v["min-vram"], 1),
      spot: v["spot"] === true ? ("allowed" as const) : ("never" as const),
      ...(providers ? { providers } : {}),
    };
    // Every configured cloud at once, each under its own deadline: a slow one never holds up the rest.
    const sources = await priceSources(ctx, providers, deadlineMs);
    const answers = await askProviders(sources.live, query, { deadlineMs, signal: ctx.signal });
    const { offers, warnings } = await findOffers(query, { live: answeredSources(answers), signal: ctx.signal });
    for (const w of warnings) ctx.logger.warn(w);
    const baseline = baselineOf(offers);
    if (v["json"] === true) {
      const prices = { answers, notConfigured: sources.notConfigured, catalogOnly: sources.catalogOnly, unavailable: sources.unavailable, emulated: sources.emulated, catalogDate: CATALOG_DATE };
      ctx.io.out(`${JSON.stringify({ hours, baseline: baseline ?? null, offers, prices }, null, 2)}\n`);
      return 0;
    }
    const where = `Prices:\n${priceSourceLines(answers, sources, { date: CATALOG_DATE, now: Date.now() }).join("\n")}\n`;
    if (offers.length === 0) {
      ctx.io.out(`No offers match. Loosen --gpu/--min-vram/--provider, or run \`kiln offers\` to see everything.\n${where}`);
      return 1;
    }
    const rows = mergeRegions(offers).map((o) => offerRow(o, hours, baselineOf(offers, o.gpu)?.pricePerHour));
    const header = OFFER_HEADER.map((h) => (h === "cost" ? `cost ${hours}h` : h));
    ctx.io.out(`${renderTable(header, rows)}\n\n`);
    const gpus = new Set(offers.map((o) => o.gpu));
    if (gpus.size > 1) ctx.io.out("vs base: against the cheapest reliable on-demand offer of the same GPU.\n");
    else if (baseline) ctx.io.out(`Baseline: ${baseline.provider} ${baseline.instanceType} at $${baseline.pricePerHour.toFixed(2)}/h (cheapest reliable on-demand offer).\n`);
    ctx.io.out(where);
    if (query.spot !== "never") {
      // A cloud with no spot product shows on-demand rows only: say so rather than let its spot rows look missing.
      const { providers: registered } = await import("../../providers/registry.js");
      for (const d of registered()) if (d.noSpot && (!providers || providers.includes(d.name))) ctx.io.out(`No spot on ${d.name}: ${d.noSpot}.\n`);
    }
    if (offers.some((o) => o.priceSource === "catalog")) ctx.io.out("Catalog prices are dated: check them before a long run; live prices replace them once a provider is configured.\n");
    return 0;
  },
});

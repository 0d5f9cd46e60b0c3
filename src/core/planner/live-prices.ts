/**
 * Asking the configured clouds for live prices: all at once, each under its own deadline. A provider that
 * fails or does not answer in time is reported as such and its dated catalog rows stand in (shown as
 * catalog, never as live); it never holds up the others. `kiln offers`, `kiln plan` and the bench share it.
 */
import { errorMessage } from "../../base/errors.js";
import type { LiveOffers } from "../catalog/offers.js";
import type { GpuRequest, Offer } from "../../providers/provider.js";

/** How long `kiln offers` and `kiln plan` wait for one provider's live prices before using its catalog rows. */
export const LIVE_PRICES_DEADLINE_MS = 10_000;

/** One provider's answer to a price request. */
export interface ProviderPrices {
  provider: string;
  /** live: it answered; failed: it threw; timeout: no answer within the deadline. */
  status: "live" | "failed" | "timeout";
  offers: Offer[];
  /** Why it failed or timed out. */
  error?: string;
  /** Milliseconds from the request to the answer (or to the deadline). */
  ms: number;
  /** When the answer came (ISO): the age of a live price. */
  at: string;
}

/**
 * Ask every source for `req` in parallel; each gets `deadlineMs` and an AbortSignal that fires at it. A
 * source that ignores its signal is still cut off at the deadline (its late answer is dropped). The
 * caller's own abort rejects the whole call.
 *
 * @example
 *   const answers = await askProviders({ lambda: (r, s) => p.listOffers(r, s) }, req, { deadlineMs: 2000 });
 *   answers[0]; // { provider: "lambda", status: "live", offers: [...], ms: 180, at: "2026-12-04T23:59:01.123Z" }
 */
export async function askProviders(
  sources: Readonly<Record<string, LiveOffers>>,
  req: GpuRequest,
  o: { deadlineMs: number; signal?: AbortSignal; now?: () => number },
): Promise<ProviderPrices[]> {
  const now = o.now ?? Date.now;
  const ask = async (provider: string, source: LiveOffers): Promise<ProviderPrices> => {
    const start = now();
    const bounded = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: () => void = () => undefined;
    // The deadline, and the caller's abort, win the race even against a source that ignores its signal.
    const deadline = new Promise<"timeout">((resolve, reject) => {
      timer = setTimeout(() => resolve("timeout"), o.deadlineMs);
      onAbort = () => {
        bounded.abort(o.signal?.reason);
        reject(o.signal?.reason);
      };
      if (o.signal?.aborted) onAbort();
      else o.signal?.addEventListener("abort", onAbort, { once: true });
    });
    const done = (status: ProviderPrices["status"], offers: Offer[], error?: string): ProviderPrices => ({
      provider,
      status,
      offers,
      ...(error !== undefined && { error }),
      ms: now() - start,
      at: new Date(now()).toISOString(),
    });
    try {
      const answer = source(req, bounded.signal);
      answer.catch(() => undefined); // a late failure after the deadline is dropped, not unhandled
      const first = await Promise.race([answer, deadline]);
      if (first === "timeout") {
        bounded.abort(new Error("deadline"));
        return done("timeout", [], `no answer within ${o.deadlineMs / 1000} s`);
      }
      return done("live", first);
    } catch (e) {
      if (o.signal?.aborted) throw e;
      return done("failed", [], errorMessage(e));
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
    }
  };
  return Promise.all(Object.entries(sources).map(([p, s]) => ask(p, s)));
}

/**
 * The answers as live sources for findOffers: a provider that answered gives its offers (and its catalog
 * rows are dropped); one that did not throws its reason (findOffers warns and keeps its catalog rows).
 */
export function answeredSources(answers: readonly ProviderPrices[]): Record<string, LiveOffers> {
  return Object.fromEntries(
    answers.map((a) => [
      a.provider,
      async () => {
        if (a.status !== "live") throw new Error(a.error ?? a.status);
        return a.offers;
      },
    ]),
  );
}

/** "lambda: live, 6 offers in 0.21 s at 23:59:01 UTC" / "slow: no answer within 2 s; its catalog rows stand in". */
export function answerLine(a: ProviderPrices): string {
  const secs = `${(a.ms / 1000).toFixed(2)} s`;
  if (a.status === "live") {
    // A provider's API may answer with prices it cannot read live (EC2 on-demand): those stay marked catalog.
    const fromCatalog = a.offers.filter((o) => o.priceSource !== "live").length;
    const mix = fromCatalog > 0 ? ` (${a.offers.length - fromCatalog} live-priced, ${fromCatalog} priced from its catalog)` : "";
    return `${a.provider}: live, ${a.offers.length} offer${a.offers.length === 1 ? "" : "s"}${mix} in ${secs} at ${a.at.slice(11, 19)} UTC`;
  }
  if (a.status === "timeout") return `${a.provider}: ${a.error}; its catalog rows stand in (marked catalog)`;
  return `${a.provider}: live prices failed after ${secs} (${a.error}); its catalog rows stand in (marked catalog)`;
}

/** The clouds that gave no live answer because none was asked: not configured, or no API client yet. */
export interface UnaskedClouds {
  emulated: readonly string[];
  notConfigured: readonly string[];
  catalogOnly: readonly string[];
  /** Configured clouds whose account could not be set up in time, with why. */
  unavailable?: Readonly<Record<string, string>>;
}

/**
 * Where a command's prices came from, one line per provider: live (emulated or not) with its answer time,
 * one that failed or ran out of time (its catalog rows stand in), and the catalog's age for the rest.
 */
export function priceSourceLines(answers: readonly ProviderPrices[], clouds: UnaskedClouds, catalog: { date: string; now: number }): string[] {
  const days = Math.floor((catalog.now - Date.parse(`${catalog.date}T00:00:00Z`)) / 86_400_000);
  const lines = answers.map((a) => `  ${answerLine(a)}${a.status === "live" && clouds.emulated.includes(a.provider) ? " (emulated)" : ""}`);
  const age = `catalog ${catalog.date} (${days} days old)`;
  for (const [p, why] of Object.entries(clouds.unavailable ?? {})) lines.push(`  ${p}: ${why}; its catalog rows stand in (marked catalog)`);
  if (clouds.notConfigured.length > 0) lines.push(`  ${clouds.notConfigured.join(", ")}: ${age}; not configured (\`kiln check\` says how)`);
  if (clouds.catalogOnly.length > 0) lines.push(`  ${clouds.catalogOnly.join(", ")}: ${age}; Kiln cannot ask them for prices yet`);
  return lines;
}

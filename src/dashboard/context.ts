/** What every page and endpoint reads from: one ledger handle, the caches, the action log. */
import type { OfferSources } from "../core/catalog/index.js";
import type { KilnPaths } from "../core/home.js";
import type { Ledger } from "../store/index.js";
import type { Confirmations } from "./access.js";
import type { ActionLog } from "./actions.js";
import type { JobPlan } from "./jobs.js";
import type { MetricsCache } from "./metrics-cache.js";

export interface DashboardContext {
  ledger: Ledger;
  paths: KilnPaths;
  metrics: MetricsCache;
  plans: Map<string, JobPlan>;
  actions: ActionLog;
  confirmations: Confirmations;
  /** Live price sources for the offers page (the CLI passes `kiln offers`' own); none: the dated catalog. */
  liveOffers: (() => Promise<OfferSources["live"]>) | undefined;
  now: () => number;
}

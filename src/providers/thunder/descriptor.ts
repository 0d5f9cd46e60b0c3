/**
 * Thunder Compute's descriptor: its dated catalog, credentials (`TNR_API_TOKEN`, as Thunder's `tnr` CLI
 * reads it, or the `thunder` section), the configured account (or an emulator on loopback when
 * `KILN_THUNDER_API_URL` points there), `kiln check`, `kiln run --sim`, `kiln emulate thunder`, and the
 * watchdog's end of billing. Heavier modules load on use.
 *
 * Naming: **none**. Thunder's create takes no name, label or tag; Kiln's machines carry `kiln-<intent>` as the
 * comment of their SSH key instead (marker.ts), and lost create answers are resolved by the provider
 * (provider.ts), never by a second launch. No spot product: every offer and catalog row is on-demand.
 */
import { existsSync } from "node:fs";
import { UserError, errorMessage } from "../../base/errors.js";
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ProviderContext, ProviderDescriptor, RunningEmulator, SimulatedCloud } from "../descriptor.js";
import { THUNDER_FILE_EXAMPLE } from "./credentials.js";

const { PUBLIC } = SOURCES;
const TOKENS_PAGE = "https://console.thundercompute.com/settings/tokens";

/**
 * Prototyping-mode prices (GPU over TCP), so the instance types say so; Kiln launches production by default
 * and prices it live from `GET /pricing`. Correction to the runbook: its "$0.66 A100 40GB" was Thunder's
 * prototyping price for the old 40 GB `a100` type, which Thunder no longer rents: thunder-cli now maps "a100" to
 * `a100xl` (80 GB), so that row is left out (GUESS on the mode: the runbook does not name it). A live `GET
 * /pricing` that still lists `a100` is shown as it comes. No spot prices: Thunder has no spot.
 */
const CATALOG: readonly CatalogRow[] = [
  catalogRow("thunder", "a100xl_x1_prototyping", "A100-80GB", 80, 0.78, PUBLIC),
  catalogRow("thunder", "h100_x1_prototyping", "H100-80GB", 80, 1.47, PUBLIC),
];

async function simulate(o: { bootDelayMs: number }): Promise<SimulatedCloud> {
  const { startSimulatedThunderCloud } = await import("./simulated.js");
  return startSimulatedThunderCloud(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator> {
  if (o.configPath) throw new UserError("the Thunder emulator takes no configuration file yet", { hint: "run `kiln emulate thunder` without --config" });
  const { startThunderEmulator } = await import("./emulator.js");
  const emu = await startThunderEmulator({ host: o.host, port: o.port }).catch((e: unknown) => {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: emu.url,
    env: { KILN_THUNDER_API_URL: emu.url, TNR_API_TOKEN: emu.token },
    close: async () => {
      const all = emu.inspect();
      await emu.close();
      return { launched: all.length, live: all.filter((i) => i.status !== "terminated").length };
    },
  };
}

export const thunderDescriptor: ProviderDescriptor = {
  name: "thunder",
  noSpot: "Thunder Compute sells no spot machines (its API has no such option): on-demand only",
  title: "Thunder Compute",
  kind: "cloud",
  tier: "budget",
  catalog: CATALOG,
  consoleUrl: "https://console.thundercompute.com",
  listingLagMs: 60_000,
  // No cloud-side stop and no persistent volume (snapshots are images); the API's delete needs the account's
  // token, which Thunder documents no scopes for (it can launch too).
  cap: { apiTerminate: "full-account" },
  credentials: { envVars: ["TNR_API_TOKEN"], fileSection: "thunder", fileExample: THUNDER_FILE_EXAMPLE, createAt: TOKENS_PAGE },
  hasCredentials: (ctx: ProviderContext) => Boolean(ctx.env["TNR_API_TOKEN"]?.trim()) || existsSync(ctx.credentialsPath),
  configured: async (ctx) => (await import("./configured.js")).configuredThunder(ctx),
  check: async (ctx, signal) => (await import("./check.js")).checkThunder(ctx, signal),
  simulate,
  emulate,
};

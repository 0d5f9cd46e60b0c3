/**
 * TensorDock's descriptor: its dated catalog, credentials, the configured organization (or an emulator on
 * loopback when `KILN_TENSORDOCK_API_URL` points there), `kiln check`, `kiln run --sim`, `kiln emulate
 * tensordock` and how the on-machine watchdog ends billing (the API's DELETE, with the token in a 0600 header
 * file). Everything heavier than this file (client, schemas, emulator) is imported on use.
 *
 * Spot: TensorDock's v2 API has none (its create body has no such field and its docs name no spot product); the
 * legacy v0 marketplace API had spot instances (`spot/validate`, bid prices), but v0 is obsolete, so Kiln offers
 * TensorDock on demand only.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { UserError, errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ConfiguredCloud, ProviderContext, ProviderDescriptor, RunningEmulator, SimulatedCloud } from "../descriptor.js";
import { loadTensordockCredentials, TENSORDOCK_FILE_EXAMPLE, TENSORDOCK_TOKEN_ENV, TENSORDOCK_TOKENS_PAGE } from "./credentials.js";

const TENSORDOCK_API = "https://dashboard.tensordock.com/api/v2";

const { RUNBOOK, PUBLIC } = SOURCES;
// Instance types are TensorDock's GPU ids (`v0Name`). The runbook's A100 row stays at its price; its id is the
// v0Name form of the other rows (GUESS(tensordock): "a100-pcie-40gb" is not in the docs' examples). The 4090's id
// was "rtx4090-pcie-24gb" (providers.md); the docs write "geforcertx4090-pcie-24gb". Prices here are for the
// GPU; a live offer adds vCPUs, RAM and disk (offers.ts), about $0.10/h more for Kiln's size. (The docs'
// `GET /locations` example lists the H100 SXM5 at $2.20, within the public page's $2.25.)
const CATALOG: readonly CatalogRow[] = [
  catalogRow("tensordock", "a100-pcie-40gb", "A100-40GB", 40, 0.75, RUNBOOK),
  catalogRow("tensordock", "geforcertx4090-pcie-24gb", "RTX4090-24GB", 24, 0.35, PUBLIC),
  catalogRow("tensordock", "h100-sxm5-80gb", "H100-80GB", 80, 2.25, PUBLIC),
];

const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

/**
 * The organization from TENSORDOCK_API_TOKEN / the credentials file. When `KILN_TENSORDOCK_API_URL` (the API
 * base, `…/api/v2`) points at loopback it is an emulator (`kiln emulate tensordock`, tests): client pacing is off
 * (the emulator applies its own limit), retries are quick, and the SSH user is whoever runs the emulator's sshd's.
 * The forwarded SSH port is in the API's own answer, so nothing else differs from the real API.
 */
async function configured(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const creds = await loadTensordockCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { createTensordockProvider } = await import("./index.js");
  const { tensordockEndBilling } = await import("./end-billing.js");
  const baseUrl = ctx.env["KILN_TENSORDOCK_API_URL"] || undefined;
  const token = creds.apiKey.reveal();
  const log = ctx.logger.child("tensordock");
  const sshUser = ctx.env["KILN_TENSORDOCK_SSH_USER"] || undefined;
  if (baseUrl === undefined || !isLoopback(baseUrl)) {
    // The login user is a guess (provider.ts); KILN_TENSORDOCK_SSH_USER overrides it without a new release.
    const provider = createTensordockProvider({ apiToken: token, baseUrl, log, ...(sshUser !== undefined && { sshUser }) });
    return { provider, source: creds.source, emulated: false, endBilling: tensordockEndBilling(baseUrl ?? TENSORDOCK_API, token) };
  }
  const timeout = Number(ctx.env["KILN_TENSORDOCK_TIMEOUT_MS"] ?? "");
  const provider = createTensordockProvider({
    apiToken: token,
    baseUrl,
    log,
    minIntervalMs: 0,
    backoffBaseMs: 100,
    backoffMaxMs: 1_000,
    sshUser: sshUser ?? userInfo().username,
    ...(timeout > 0 && { requestTimeoutMs: timeout }),
  });
  return { provider, source: creds.source, emulated: true, endBilling: tensordockEndBilling(baseUrl, token) };
}

async function check(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const creds = await loadTensordockCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { checkTensordockToken } = await import("./check.js");
  const { ProviderError } = await import("../provider.js");
  try {
    const r = await checkTensordockToken({ apiToken: creds.apiKey.reveal(), baseUrl: ctx.env["KILN_TENSORDOCK_API_URL"] || undefined, log: ctx.logger.child("tensordock") }, signal);
    return `token from ${creds.source} works: the organization has ${r.instances} instance${r.instances === 1 ? "" : "s"} (${r.kilnInstances} of them Kiln's)`;
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") {
      throw new UserError(`TensorDock rejected the API token from ${creds.source} (HTTP ${e.status ?? "?"})`, {
        cause: e,
        hint: `create a token at ${TENSORDOCK_TOKENS_PAGE} (Developer Settings), then set ${TENSORDOCK_TOKEN_ENV} or "tensordock.api_token" in ${ctx.credentialsPath} (mode 0600)`,
      });
    }
    throw new UserError(`could not check TensorDock: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  }
}

async function simulate(o: { bootDelayMs: number; logger: Logger }): Promise<SimulatedCloud> {
  const { startSimulatedTensordockCloud } = await import("./simulated.js");
  return startSimulatedTensordockCloud(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator> {
  const { readTensordockEmulatorConfig } = await import("./emulator-config.js");
  const { sshd = true, ...config } = o.configPath ? await readTensordockEmulatorConfig(o.configPath) : {};
  const { startTensordockEmulator, TENSORDOCK_RATE_LIMIT } = await import("./emulator.js");
  const { SshdMachines } = await import("../emulator-kit/sshd-machines.js");
  const emu = await startTensordockEmulator({ rateLimit: { ...TENSORDOCK_RATE_LIMIT }, ...config, ...(sshd && { machines: new SshdMachines() }), host: o.host, port: o.port }).catch((e: unknown) => {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: emu.url,
    env: { KILN_TENSORDOCK_API_URL: emu.apiUrl, [TENSORDOCK_TOKEN_ENV]: emu.apiToken },
    close: async () => {
      const all = emu.inspect();
      await emu.close();
      return { launched: all.length, live: all.filter((i) => i.status !== "deleted" && i.status !== "deleting").length };
    },
  };
}

export const tensordockDescriptor: ProviderDescriptor = {
  name: "tensordock",
  noSpot: "TensorDock's v2 API has no spot machines (only the obsolete v0 marketplace had them): on-demand only",
  title: "TensorDock",
  kind: "cloud",
  tier: "budget",
  catalog: CATALOG,
  consoleUrl: "https://dashboard.tensordock.com/instances",
  // GUESS(tensordock): TensorDock documents no listing lag; a minute covers a slow control plane. Verify by
  // listing right after a create.
  listingLagMs: 60_000,
  // No cloud-side stop (no deadline field in the v2 create body). The watchdog's DELETE needs the organization's
  // token, which can also create (no scoped tokens are documented). No persistent volume Kiln can attach.
  // No reclaimNotice: no spot in v2.
  cap: { apiTerminate: "full-account" },
  credentials: { envVars: [TENSORDOCK_TOKEN_ENV], fileSection: "tensordock", fileExample: TENSORDOCK_FILE_EXAMPLE, createAt: TENSORDOCK_TOKENS_PAGE },
  hasCredentials: (ctx) => Boolean(ctx.env[TENSORDOCK_TOKEN_ENV]?.trim()) || existsSync(ctx.credentialsPath),
  configured,
  check,
  simulate,
  emulate,
};

/**
 * The configured GCE account: the user's project through ADC, or an emulator on loopback when
 * KILN_GCP_API_URL points there (tests, `kiln emulate gcp`). Loaded on use: it pulls in
 * google-auth-library, and the client pulls in the SDK on its first call.
 */
import { userInfo } from "node:os";
import { z } from "zod";
import type { ConfiguredCloud, ProviderContext } from "../descriptor.js";
import { type Provider, ProviderError, type SupportsSpot } from "../provider.js";
import { adcAuth, identityOf, staticTokenAuth } from "./auth.js";
import { GcpClient } from "./client.js";
import { emulatedGcpPrices } from "./emulated.js";
import { EMULATOR_PROJECT } from "./emulator-project.js";
import type { PermissionCheck } from "./permissions.js";
import { GcpLivePrices } from "./prices.js";
import { GcpProvider } from "./provider.js";
import { type GcpSettings, loadGcpSettings } from "./settings.js";

export const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

const Ports = z.array(z.object({ id: z.string(), port: z.number() }));

export interface ConfiguredGcp extends ConfiguredCloud {
  provider: Provider & SupportsSpot;
  settings: GcpSettings | undefined;
  principal: string;
  project: string;
  /** The permissions Kiln needs that the principal lacks, per action (Cloud Resource Manager's testIamPermissions). */
  missingPermissions(signal: AbortSignal): Promise<PermissionCheck>;
}

export async function configuredGcp(ctx: ProviderContext): Promise<ConfiguredGcp | undefined> {
  const url = ctx.env["KILN_GCP_API_URL"]?.trim();
  if (url && isLoopback(url)) return emulatedAccount(ctx, url);
  const settings = await loadGcpSettings(ctx.env, ctx.credentialsPath);
  if (!settings) return undefined;
  const auth = adcAuth({ ...(settings.keyFile && { keyFile: settings.keyFile }), ...(settings.project && { projectId: settings.project }) });
  const id = await identityOf(auth);
  const project = settings.project ?? id.project;
  if (!project) {
    throw new ProviderError("gcp", "auth", `GCE: no project found for the credentials from ${settings.source}`, { code: "kiln/no-project", suggestion: 'set GOOGLE_CLOUD_PROJECT, or "gcp": {"project": "…"} in Kiln\'s credentials file, or run `gcloud config set project …`' });
  }
  const client = new GcpClient({ project, auth, minIntervalMs: 100, ...(url && { endpoint: url }) });
  // Live prices with the same ADC credentials (GoogleAuth adds the quota project's header when ADC names one).
  const prices = new GcpLivePrices({ headers: (u) => auth.getRequestHeaders(u), log: ctx.logger });
  const provider = new GcpProvider({ client, prices, ...(settings.zones && { zones: settings.zones }), ...(settings.image && { image: settings.image }) });
  return {
    provider,
    source: settings.source,
    emulated: false,
    settings,
    principal: id.principal,
    project,
    missingPermissions: async (signal) => (await import("./permissions.js")).missingPermissions(auth, project, signal),
  };
}

/**
 * An emulator: a static token (KILN_GCP_TOKEN), no pacing, and each machine's SSH port read from the
 * emulator's `/__emulator/instances` (a real VM listens on 22 at its NAT IP).
 */
async function emulatedAccount(ctx: ProviderContext, url: string): Promise<ConfiguredGcp> {
  const token = ctx.env["KILN_GCP_TOKEN"]?.trim();
  if (!token) throw new ProviderError("gcp", "auth", "KILN_GCP_API_URL points at an emulator but KILN_GCP_TOKEN (its bearer token) is not set", { code: "kiln/no-token", suggestion: "use the environment `kiln emulate gcp` prints" });
  const project = ctx.env["GOOGLE_CLOUD_PROJECT"]?.trim() || EMULATOR_PROJECT;
  const ports = new Map<string, number>();
  const origin = new URL(url).origin;
  let refreshing: Promise<void> | undefined;
  const refresh = () =>
    (refreshing ??= (async () => {
      try {
        const res = await fetch(`${origin}/__emulator/instances`, { signal: AbortSignal.timeout(5_000) });
        for (const p of Ports.parse(await res.json())) ports.set(p.id, p.port);
      } catch {
        // Only the port is missing then: describe says pending and the next poll asks again.
      } finally {
        refreshing = undefined;
      }
    })());
  const timeoutMs = Number(ctx.env["KILN_GCP_TIMEOUT_MS"] ?? "");
  const client = new GcpClient({ project, auth: staticTokenAuth(token), endpoint: url, backoffBaseMs: 50, backoffMaxMs: 1_000, ...(timeoutMs > 0 && { requestTimeoutMs: timeoutMs }) });
  const prices = emulatedGcpPrices({ url, token, log: ctx.logger });
  const inner = new GcpProvider({ client, prices, sshUser: ctx.env["KILN_GCP_SSH_USER"] || userInfo().username, sshPortOf: (id) => ports.get(id), operationTimeoutMs: 30_000, cleanupTimeoutMs: 30_000, pollMs: 100 });
  // describe and listMachines learn the ports first; the rest is the provider as is.
  const provider: Provider & SupportsSpot = {
    name: inner.name,
    spotNoticeSeconds: inner.spotNoticeSeconds,
    listOffers: (req, signal) => inner.listOffers(req, signal),
    launch: (req, signal) => inner.launch(req, signal),
    terminate: (id, signal) => inner.terminate(id, signal),
    describe: async (id, signal) => {
      await refresh();
      return inner.describe(id, signal);
    },
    listMachines: async (signal) => {
      await refresh();
      return inner.listMachines(signal);
    },
  };
  const auth = staticTokenAuth(token);
  return {
    provider,
    source: "KILN_GCP_API_URL (emulator)",
    emulated: true,
    settings: undefined,
    principal: "the emulator's static token",
    project,
    // The emulator serves Cloud Resource Manager's testIamPermissions on its own port.
    missingPermissions: async (signal) => (await import("./permissions.js")).missingPermissions(auth, project, signal, { url: origin }),
  };
}

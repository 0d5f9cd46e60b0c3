/**
 * The configured Azure subscription: DefaultAzureCredential + the subscription from settings, or an
 * emulator on loopback when KILN_AZURE_API_URL points there (tests, `kiln emulate azure`) with its static
 * token (KILN_AZURE_TOKEN). Loaded on use: it pulls in the SDKs.
 */
import { userInfo } from "node:os";
import { z } from "zod";
import { readBounded } from "../../base/bounded-body.js";
import type { ConfiguredCloud, ProviderContext } from "../descriptor.js";
import { type Provider, ProviderError, type SupportsSpot } from "../provider.js";
import { defaultCredential } from "./auth.js";
import { AzureClient, isLoopbackUrl } from "./client.js";
import { emulatedClient, emulatedProvider } from "./emulated.js";
import { AzureProvider } from "./provider.js";
import { azureEndBilling } from "./self-stop.js";
import { type AzureSettings, loadAzureSettings } from "./settings.js";

/** Azure's public-cloud ARM endpoint (the machine's end of billing deletes its VM there). */
const ARM_ENDPOINT = "https://management.azure.com";

/** Where the caller's public address is asked, for the NSG's SSH rule. */
export const CALLER_IP_URL = "https://api.ipify.org";

export async function callerCidr(signal: AbortSignal, fetchImpl: typeof fetch = fetch): Promise<string> {
  let text: string;
  try {
    const res = await fetchImpl(CALLER_IP_URL, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
    // One line; a longer answer is not the echo service's (a captive portal's page, say).
    text = (await readBounded(res, 1024)).trim();
  } catch (e) {
    throw new ProviderError("azure", "transient", `could not find this computer's public address at ${CALLER_IP_URL} (for the SSH rule of the job's network security group): ${(e as Error).message}`, { cause: e, code: "kiln/caller-ip" });
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) throw new ProviderError("azure", "transient", `${CALLER_IP_URL} answered ${JSON.stringify(text.slice(0, 60))}, not an IPv4 address`, { code: "kiln/caller-ip" });
  return `${text}/32`;
}

export interface ConfiguredAzure extends ConfiguredCloud {
  provider: Provider & SupportsSpot;
  client: AzureClient;
  subscriptionId: string;
  settings: AzureSettings | undefined;
}

const Ports = z.array(z.object({ id: z.string(), port: z.number() }));

export async function configuredAzure(ctx: ProviderContext): Promise<ConfiguredAzure | undefined> {
  const url = ctx.env["KILN_AZURE_API_URL"]?.trim();
  if (url && isLoopbackUrl(url)) return emulatedAccount(ctx, url);
  const settings = await loadAzureSettings(ctx.env, ctx.credentialsPath);
  if (!settings) return undefined;
  const client = new AzureClient({ subscriptionId: settings.subscriptionId, credential: await defaultCredential(), ...(url && { endpoint: url }), minIntervalMs: 100 });
  const provider = new AzureProvider({ client, ...(settings.regions && { regions: settings.regions }), sshSourceCidr: (signal) => callerCidr(signal), ...(ctx.env["KILN_AZURE_PRICES_URL"] && { pricesUrl: ctx.env["KILN_AZURE_PRICES_URL"] }) });
  return { provider, client, subscriptionId: settings.subscriptionId, settings, source: settings.source, emulated: false, endBilling: azureEndBilling(url || ARM_ENDPOINT, settings.subscriptionId) };
}

/** An emulator: its token and subscription from the environment, each VM's SSH port from `/__emulator/machines`. */
async function emulatedAccount(ctx: ProviderContext, url: string): Promise<ConfiguredAzure> {
  const token = ctx.env["KILN_AZURE_TOKEN"]?.trim();
  const subscriptionId = ctx.env["AZURE_SUBSCRIPTION_ID"]?.trim();
  if (!token || !subscriptionId) {
    throw new ProviderError("azure", "auth", "KILN_AZURE_API_URL points at an emulator but KILN_AZURE_TOKEN or AZURE_SUBSCRIPTION_ID is not set", { code: "kiln/no-token", suggestion: "use the environment `kiln emulate azure` prints" });
  }
  const ports = new Map<string, number>();
  const origin = new URL(url).origin;
  const refresh = async () => {
    try {
      const res = await fetch(`${origin}/__emulator/machines`, { signal: AbortSignal.timeout(5_000) });
      for (const p of Ports.parse(await res.json())) ports.set(p.id, p.port);
    } catch {
      // Only the port is missing then: describe says pending and the next poll asks again.
    }
  };
  const timeoutMs = Number(ctx.env["KILN_AZURE_TIMEOUT_MS"] ?? "");
  const emu = { url, token, subscriptionId };
  const regions = ctx.env["KILN_AZURE_REGIONS"]?.split(",").map((r) => r.trim()).filter(Boolean);
  const inner = emulatedProvider(emu, { ...(regions?.length && { regions }), sshUser: ctx.env["KILN_AZURE_SSH_USER"] || userInfo().username, sshPortOf: (id) => ports.get(id), ...(timeoutMs > 0 && { requestTimeoutMs: timeoutMs }) });
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
  return { provider, client: emulatedClient(emu), subscriptionId, settings: undefined, source: "KILN_AZURE_API_URL (emulator)", emulated: true, endBilling: azureEndBilling(url, subscriptionId) };
}

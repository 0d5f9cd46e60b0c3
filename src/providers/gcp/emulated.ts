/**
 * A GCE client and provider pointed at an emulator on loopback: the SDK's REST transport over plain http
 * (`protocol: "http"`), a static bearer token (no ADC, no token endpoint, no network), fast backoff, and the
 * SSH port of each emulated machine from `sshPortOf`.
 */
import { staticTokenAuth } from "./auth.js";
import { GcpClient, type GcpClientOptions } from "./client.js";
import { SKUS_PATH } from "./emulator/billing.js";
import { GcpLivePrices, type LivePricesOptions } from "./prices.js";
import { GcpProvider, type GcpProviderOptions } from "./provider.js";

/** Live prices from the emulator's Billing Catalog endpoint, with its static token. */
export function emulatedGcpPrices(o: { url: string; token: string } & Partial<LivePricesOptions>): GcpLivePrices {
  const { url, token, ...rest } = o;
  const auth = staticTokenAuth(token);
  return new GcpLivePrices({ timeoutMs: 5_000, ...rest, url: `${new URL(url).origin}${SKUS_PATH}`, headers: (u) => auth.getRequestHeaders(u) });
}

export function emulatedGcpClient(o: { url: string; project: string; token: string } & Partial<GcpClientOptions>): GcpClient {
  const { url, token, ...rest } = o;
  return new GcpClient({ backoffBaseMs: 20, backoffMaxMs: 500, requestTimeoutMs: 10_000, ...rest, auth: staticTokenAuth(token), endpoint: url });
}

/** A provider on the emulator; `livePrices` wires its Billing Catalog (default: the dated catalog only). */
export function emulatedGcpProvider(o: { url: string; project: string; token: string; client?: Partial<GcpClientOptions>; livePrices?: Partial<LivePricesOptions> | true } & Omit<GcpProviderOptions, "client">): GcpProvider {
  const { url, project, token, client, livePrices, ...p } = o;
  if (livePrices) p.prices ??= emulatedGcpPrices({ url, token, ...(livePrices === true ? {} : livePrices) });
  return new GcpProvider({ operationTimeoutMs: 10_000, cleanupTimeoutMs: 10_000, pollMs: 50, ...p, client: emulatedGcpClient({ url, project, token, ...client }) });
}

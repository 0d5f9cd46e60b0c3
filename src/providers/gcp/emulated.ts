/**
 * A GCE client and provider pointed at an emulator on loopback: the SDK's REST transport over plain http
 * (`protocol: "http"`), a static bearer token (no ADC, no token endpoint, no network), fast backoff, and the
 * SSH port of each emulated machine from `sshPortOf`.
 */
import { staticTokenAuth } from "./auth.js";
import { GcpClient, type GcpClientOptions } from "./client.js";
import { GcpProvider, type GcpProviderOptions } from "./provider.js";

export function emulatedGcpClient(o: { url: string; project: string; token: string } & Partial<GcpClientOptions>): GcpClient {
  const { url, token, ...rest } = o;
  return new GcpClient({ backoffBaseMs: 20, backoffMaxMs: 500, requestTimeoutMs: 10_000, ...rest, auth: staticTokenAuth(token), endpoint: url });
}

export function emulatedGcpProvider(o: { url: string; project: string; token: string; client?: Partial<GcpClientOptions> } & Omit<GcpProviderOptions, "client">): GcpProvider {
  const { url, project, token, client, ...p } = o;
  return new GcpProvider({ operationTimeoutMs: 10_000, cleanupTimeoutMs: 10_000, pollMs: 50, ...p, client: emulatedGcpClient({ url, project, token, ...client }) });
}

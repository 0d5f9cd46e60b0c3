/**
 * An AzureProvider wired to an emulator: the SDKs pointed at its URL with its static token, prices from
 * its Retail Prices endpoint, SSH allowed from loopback, each VM's SSH port asked of the emulator (a real
 * VM listens on 22 at its public IP), and polls and deadlines sized for milliseconds, not minutes.
 */
import { staticToken } from "./auth.js";
import { AzureClient } from "./client.js";
import { AzureProvider } from "./provider.js";

export interface EmulatorEndpoint {
  url: string;
  token: string;
  subscriptionId: string;
}

export interface EmulatedOptions {
  sshUser?: string;
  sshPortOf?(id: string): number | undefined;
  regions?: readonly string[];
  maxRetries?: number;
  requestTimeoutMs?: number;
}

export function emulatedClient(emu: EmulatorEndpoint, o: EmulatedOptions = {}): AzureClient {
  return new AzureClient({
    subscriptionId: emu.subscriptionId,
    credential: staticToken(emu.token),
    endpoint: emu.url,
    pollIntervalMs: 50,
    maxRetries: o.maxRetries ?? 2,
    requestTimeoutMs: o.requestTimeoutMs ?? 15_000,
  });
}

export function emulatedProvider(emu: EmulatorEndpoint, o: EmulatedOptions = {}): AzureProvider {
  return new AzureProvider({
    client: emulatedClient(emu, o),
    regions: o.regions ?? ["eastus", "westus3"],
    sshSourceCidr: async () => "127.0.0.1/32",
    ...(o.sshUser && { sshUser: o.sshUser }),
    ...(o.sshPortOf && { sshPortOf: o.sshPortOf }),
    pricesUrl: `${emu.url}/api/retail/prices`,
    launchTimeoutMs: 30_000,
    cleanupTimeoutMs: 30_000,
    cleanupPollMs: 50,
    vmLagMs: 2_000,
  });
}

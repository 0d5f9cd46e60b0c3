/** (Test tooling.) An emulator with the discovery check on every exchange, and a provider wired to it. */
import type { GcpClientOptions } from "../client.js";
import { emulatedGcpProvider } from "../emulated.js";
import { type GcpEmulator, type GcpEmulatorOptions, startGcpEmulator } from "../emulator.js";
import type { GcpProvider, GcpProviderOptions } from "../provider.js";
import { discoveryChecker } from "./discovery.js";

export const TEST_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl kiln-test";

export interface Fixture {
  emu: GcpEmulator;
  provider: GcpProvider;
  /** Another provider on the same emulator (other token, client or provider options). */
  providerWith(o: { token?: string; client?: Partial<GcpClientOptions> } & Partial<Omit<GcpProviderOptions, "client">>): GcpProvider;
  check: ReturnType<typeof discoveryChecker>;
  close(): Promise<void>;
}

export async function gcpFixture(o: { emulator?: GcpEmulatorOptions; provider?: Partial<Omit<GcpProviderOptions, "client">>; client?: Partial<GcpClientOptions> } = {}): Promise<Fixture> {
  const check = discoveryChecker();
  const emu = await startGcpEmulator({ bootDelayMs: 50, opDelayMs: 10, deleteDelayMs: 50, preemptNoticeMs: 0, ...o.emulator, onExchange: check.onExchange });
  const providerWith: Fixture["providerWith"] = ({ token, client, ...p }) => emulatedGcpProvider({ url: emu.url, project: emu.project, token: token ?? emu.token, client: { ...o.client, ...client }, ...o.provider, ...p });
  return { emu, provider: providerWith({}), providerWith, check, close: () => emu.close() };
}

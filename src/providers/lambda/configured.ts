/**
 * A ready simulated Lambda (emulator plus a provider wired to it) for `--sim` runs and tests. The user's
 * configured account is the descriptor's `configured` (./descriptor.ts).
 */
import type { ClientLog } from "./client.js";
import type { LambdaEmulator, LambdaEmulatorOptions, OnLaunch } from "./emulator.js";
import { createLambdaProvider } from "./index.js";
import type { LambdaProvider } from "./provider.js";

export interface SimulatedLambda {
  emulator: LambdaEmulator;
  provider: LambdaProvider;
  close(): Promise<void>;
}

/**
 * An emulator plus a provider wired to it (SSH ports from the emulator, client pacing off: the
 * emulator's rate limit is off too unless `emulator.rateLimit` says otherwise). `onLaunch` backs each
 * instance with an SSH endpoint, e.g. a loopback sshd per instance.
 */
export async function startSimulatedLambda(o: { onLaunch?: OnLaunch; emulator?: LambdaEmulatorOptions; sshUser?: string; sshKeyName?: string; log?: ClientLog } = {}): Promise<SimulatedLambda> {
  // Imported here: `kiln offers` and reconciliation load this module for lambdaFromEnvironment and
  // should not pay for the emulator's HTTP server and schemas.
  const { startLambdaEmulator } = await import("./emulator.js");
  const emulator = await startLambdaEmulator({ bootDelayMs: 1_000, terminateDelayMs: 500, ...o.emulator, ...(o.onLaunch && { onLaunch: o.onLaunch }) });
  const provider = createLambdaProvider({
    apiKey: emulator.apiKey,
    baseUrl: emulator.url,
    minIntervalMs: 0,
    launchIntervalMs: 0,
    backoffBaseMs: 50,
    backoffMaxMs: 1_000,
    sshKeyName: o.sshKeyName ?? "kiln",
    sshPortOf: (id) => emulator.sshEndpoint(id)?.port,
    ...(o.sshUser !== undefined && { sshUser: o.sshUser }),
    ...(o.log && { log: o.log }),
  });
  return { emulator, provider, close: () => emulator.close() };
}

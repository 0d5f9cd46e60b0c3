/**
 * Wiring Lambda from the user's configuration, for the commands that need it (`kiln offers` live
 * prices, `kiln run --provider lambda`, reconciliation), and a ready simulated Lambda for `--sim` runs.
 */
import { loadLambdaCredentials } from "./credentials.js";
import type { ClientLog } from "./client.js";
import type { LambdaEmulator, LambdaEmulatorOptions, OnLaunch } from "./emulator.js";
import { createLambdaProvider } from "./index.js";
import type { LambdaProvider } from "./provider.js";

/**
 * The Lambda provider when a key is configured (LAMBDA_API_KEY or the 0600 credentials file), else
 * undefined. `KILN_LAMBDA_API_URL` in `env` points it at an emulator. Throws the credentials file's
 * ProviderError (kind "auth") when the file is unsafe or malformed.
 *
 * @example
 *   const lambda = await lambdaFromEnvironment({ env: ctx.env, credentialsPath: ctx.paths.credentials, log: ctx.logger.child("lambda") });
 *   if (lambda) live.lambda = (req, signal) => lambda.provider.listOffers(req, signal);
 */
export async function lambdaFromEnvironment(o: { env: NodeJS.ProcessEnv; credentialsPath: string; log?: ClientLog; sshKeyName?: string }): Promise<{ provider: LambdaProvider; source: string } | undefined> {
  const creds = await loadLambdaCredentials({ env: o.env, credentialsPath: o.credentialsPath });
  if (!creds) return undefined;
  const provider = createLambdaProvider({
    apiKey: creds.apiKey.reveal(),
    baseUrl: o.env["KILN_LAMBDA_API_URL"] || undefined,
    ...(o.log && { log: o.log }),
    ...(o.sshKeyName !== undefined && { sshKeyName: o.sshKeyName }),
  });
  return { provider, source: creds.source };
}

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

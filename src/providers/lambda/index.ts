/**
 * Lambda Cloud: client, provider, emulator. `createLambdaProvider` is what the core wires up; the
 * base URL can point at an emulator (`KILN_LAMBDA_API_URL`, read by the CLI, never here).
 */
import { type ClientLog, LAMBDA_API_URL, LambdaClient, type LambdaClientOptions } from "./client.js";
import { LambdaProvider, type LambdaProviderOptions } from "./provider.js";

export { LAMBDA_API_URL, LambdaClient, type ClientLog, type LambdaClientOptions, type LaunchBody } from "./client.js";
export { classifyLambdaError, isMaybeLaunched, LaunchOutcomeUnknownError } from "./errors.js";
export { canonicalLambdaGpu } from "./gpu-names.js";
export { LambdaProvider, offersFrom, type LambdaProviderOptions } from "./provider.js";
export { realClock, type Clock } from "./pacing.js";
export * as lambdaSchema from "./schema.js";

/**
 * @example
 *   const creds = await loadLambdaCredentials({ env, credentialsPath: paths.credentials });
 *   const lambda = createLambdaProvider({ apiKey: creds.apiKey.reveal(), baseUrl: env.KILN_LAMBDA_API_URL, log: logger });
 */
export function createLambdaProvider(
  o: { apiKey: string; baseUrl?: string | undefined; log?: ClientLog } & Partial<Omit<LambdaClientOptions, "apiKey" | "baseUrl" | "log">> & Omit<LambdaProviderOptions, "client">,
): LambdaProvider {
  const { sshKeyName, sshUser, sshPortOf, now, baseUrl, ...clientOpts } = o;
  const client = new LambdaClient({ ...clientOpts, baseUrl: baseUrl ?? LAMBDA_API_URL });
  return new LambdaProvider({ client, ...(sshKeyName !== undefined && { sshKeyName }), ...(sshUser !== undefined && { sshUser }), ...(sshPortOf && { sshPortOf }), ...(now && { now }) });
}

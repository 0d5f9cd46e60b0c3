/**
 * TensorDock: client, provider, emulator. `createTensordockProvider` is what the descriptor wires up; the base
 * URL can point at an emulator (`KILN_TENSORDOCK_API_URL`, read by the descriptor, never here).
 */
import { type ClientLog, TENSORDOCK_API_URL, TensordockClient, type TensordockClientOptions } from "./client.js";
import { TensordockProvider, type TensordockProviderOptions } from "./provider.js";

export { TENSORDOCK_API_URL, TensordockClient, type ClientLog, type TensordockClientOptions, type CreateInstanceBody } from "./client.js";
export { classifyTensordockError } from "./errors.js";
export { canonicalTensordockGpu } from "./gpu-names.js";
export { TensordockProvider, type TensordockProviderOptions } from "./provider.js";

/**
 * @example
 *   const td = createTensordockProvider({ apiToken: creds.apiKey.reveal(), log: logger.child("tensordock") });
 */
export function createTensordockProvider(
  o: { apiToken: string; baseUrl?: string | undefined; log?: ClientLog } & Partial<Omit<TensordockClientOptions, "apiToken" | "baseUrl" | "log">> & Omit<TensordockProviderOptions, "client">,
): TensordockProvider {
  const { sshUser, image, now, baseUrl, ...clientOpts } = o;
  const client = new TensordockClient({ ...clientOpts, baseUrl: baseUrl ?? TENSORDOCK_API_URL });
  return new TensordockProvider({ client, ...(sshUser !== undefined && { sshUser }), ...(image !== undefined && { image }), ...(now && { now }) });
}

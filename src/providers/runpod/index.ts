/**
 * RunPod: client, provider, emulator. `createRunpodProvider` is what the descriptor wires up; the base URL
 * can point at an emulator (`KILN_RUNPOD_API_URL`, read by the descriptor, never here).
 */
import { type ClientLog, RUNPOD_API_URL, RunpodClient, type RunpodClientOptions } from "./client.js";
import { RunpodProvider, type RunpodProviderOptions } from "./provider.js";

export { RUNPOD_API_URL, RunpodClient, type ClientLog, type RunpodClientOptions } from "./client.js";
export { classifyRunpodError } from "./errors.js";
export { canonicalRunpodGpu } from "./gpu-names.js";
export { offersFrom, RunpodProvider, type RunpodProviderOptions } from "./provider.js";

/**
 * @example
 *   const creds = await loadRunpodCredentials({ env, credentialsPath });
 *   const runpod = createRunpodProvider({ apiKey: creds.apiKey.reveal(), log: logger });
 */
export function createRunpodProvider(o: { apiKey: string; baseUrl?: string | undefined; log?: ClientLog } & Partial<Omit<RunpodClientOptions, "apiKey" | "baseUrl" | "log">> & Omit<RunpodProviderOptions, "client">): RunpodProvider {
  const { image, containerDiskGb, now, baseUrl, ...clientOpts } = o;
  const client = new RunpodClient({ ...clientOpts, baseUrl: baseUrl ?? RUNPOD_API_URL });
  return new RunpodProvider({ client, ...(image !== undefined && { image }), ...(containerDiskGb !== undefined && { containerDiskGb }), ...(now && { now }) });
}

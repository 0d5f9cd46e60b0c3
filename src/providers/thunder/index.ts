/** Thunder Compute: client and provider. `createThunderProvider` is what the descriptor wires up. */
import { type ClientLog, THUNDER_API_URL, ThunderClient, type ThunderClientOptions } from "./client.js";
import { ThunderProvider, type ThunderProviderOptions } from "./provider.js";

export { THUNDER_API_URL, ThunderClient, type ClientLog, type ThunderClientOptions } from "./client.js";
export { classifyThunderError } from "./errors.js";
export { offersFrom } from "./offers.js";
export { ThunderProvider, type ThunderProviderOptions } from "./provider.js";

/**
 * @example
 *   const thunder = createThunderProvider({ token: creds.apiKey.reveal(), log: logger });
 */
export function createThunderProvider(o: { token: string; baseUrl?: string | undefined; log?: ClientLog } & Partial<Omit<ThunderClientOptions, "token" | "baseUrl" | "log">> & Omit<ThunderProviderOptions, "client">): ThunderProvider {
  const { modes, template, sshUser, listingLagMs, now, baseUrl, ...clientOpts } = o;
  const client = new ThunderClient({ ...clientOpts, baseUrl: baseUrl ?? THUNDER_API_URL });
  return new ThunderProvider({ client, ...(modes && { modes }), ...(template !== undefined && { template }), ...(sshUser !== undefined && { sshUser }), ...(listingLagMs !== undefined && { listingLagMs }), ...(now && { now }) });
}

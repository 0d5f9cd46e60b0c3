/**
 * `kiln check` for TensorDock: one read-only call, `GET /instances` (it needs a valid token, as a create does;
 * whether `/locations` does is not documented). The v2 docs show no "who am I" answer with fields Kiln could
 * rely on, so the organization is named by what it holds: how many instances, how many of them Kiln's.
 */
import type { ClientLog } from "./client.js";
import { createTensordockProvider } from "./index.js";

export interface TensordockCheck {
  instances: number;
  kilnInstances: number;
}

export async function checkTensordockToken(o: { apiToken: string; baseUrl?: string | undefined; log?: ClientLog }, signal: AbortSignal): Promise<TensordockCheck> {
  const provider = createTensordockProvider({ apiToken: o.apiToken, baseUrl: o.baseUrl, ...(o.log && { log: o.log }), maxAttempts: 3 });
  const all = await provider.client.listInstances(signal);
  return { instances: all.length, kilnInstances: all.filter((i) => i.name.startsWith("kiln-")).length };
}

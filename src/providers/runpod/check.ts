/**
 * `kiln check` for RunPod: one read-only call, `GET /v2/pods` (it needs a key with pod access, which a
 * launch needs too; the catalog would answer a read-only key). The v2 API has no "who am I" endpoint, so the
 * account is named by what it holds: how many pods, how many of them Kiln's.
 */
import type { ClientLog } from "./client.js";
import { createRunpodProvider } from "./index.js";

export interface RunpodCheck {
  pods: number;
  kilnPods: number;
}

export async function checkRunpodKey(o: { apiKey: string; baseUrl?: string | undefined; log?: ClientLog }, signal: AbortSignal): Promise<RunpodCheck> {
  const provider = createRunpodProvider({ apiKey: o.apiKey, baseUrl: o.baseUrl, ...(o.log && { log: o.log }), maxAttempts: 3 });
  const pods = await provider.client.listPods(signal);
  return { pods: pods.length, kilnPods: pods.filter((p) => p.name.startsWith("kiln-")).length };
}

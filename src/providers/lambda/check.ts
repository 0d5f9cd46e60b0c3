/**
 * Checking Lambda credentials the way dstack does: one `GET /instance-types`. Returns what the CLI
 * needs to print; an auth failure is a ProviderError of kind "auth" (the CLI words it for the user).
 */
import type { ClientLog } from "./client.js";
import { createLambdaProvider } from "./index.js";

export interface LambdaCheck {
  instanceTypes: number;
  /** Types with capacity in at least one region right now. */
  withCapacity: number;
  cheapestAvailable: { instanceType: string; region: string; pricePerHour: number } | undefined;
}

export async function checkLambdaKey(o: { apiKey: string; baseUrl?: string | undefined; log?: ClientLog }, signal: AbortSignal): Promise<LambdaCheck> {
  const provider = createLambdaProvider({ apiKey: o.apiKey, baseUrl: o.baseUrl, ...(o.log && { log: o.log }), maxAttempts: 3 });
  const types = await provider.client.listInstanceTypes(signal);
  const entries = Object.values(types);
  const offers = await provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, signal);
  const cheapest = offers.find((x) => x.available === true);
  return {
    instanceTypes: entries.length,
    withCapacity: entries.filter((t) => t.regions_with_capacity_available.length > 0).length,
    cheapestAvailable: cheapest && { instanceType: cheapest.instanceType, region: cheapest.region, pricePerHour: cheapest.pricePerHour },
  };
}

/**
 * Test helpers for the planner and the price commands: synthetic offers (so a test about the arithmetic
 * does not move when a cloud's catalog is corrected), and clouds whose live prices are slow, hang or fail
 * (registered with registerProvider) to show that one provider never holds up the others.
 */
import type { PricedOffer } from "../../catalog/offers.js";
import { catalogRow } from "../../../providers/catalog-row.js";
import type { ProviderDescriptor } from "../../../providers/descriptor.js";
import type { GpuRequest, Offer, Provider } from "../../../providers/provider.js";
import type { BootTime } from "../boot.js";

/** A synthetic catalog offer with the given fields. */
export const offerOf = (o: Partial<PricedOffer> & Pick<PricedOffer, "provider" | "instanceType" | "gpu" | "vramGb" | "pricePerHour">): PricedOffer => ({
  gpuCount: 1,
  region: "any",
  spot: false,
  available: undefined,
  priceSource: "catalog",
  priceDate: "2025-10-30",
  source: "test",
  tier: "reliable",
  onDemandPricePerHour: o.pricePerHour,
  ...o,
});

/** How a test cloud answers listOffers: after `delayMs`, never (`hang`, ignoring its signal), or with an error. */
export type PriceBehaviour = { delayMs: number } | "hang" | { fail: string };

/**
 * A cloud for tests whose catalog is one A100 row and whose live prices behave as told. It is configured
 * without credentials (always; or its account setup never finishes, `setupHangs`), and its machines
 * cannot be launched (prices only).
 */
export function priceTestCloud(name: string, behaviour: PriceBehaviour, o: { boot?: BootTime; pricePerHour?: number; setupHangs?: boolean } = {}): ProviderDescriptor {
  const price = o.pricePerHour ?? 1;
  const row = catalogRow(name, `${name}-a100`, "A100-40GB", 40, price, "test catalog");
  const live = (req: GpuRequest): Offer[] =>
    req.count === 1 ? [{ provider: name, instanceType: `${name}-a100`, gpu: "A100-40GB", gpuCount: 1, vramGb: 40, region: `${name}-1`, pricePerHour: price * 0.9, spot: false, available: true, priceSource: "live", priceDate: new Date().toISOString().slice(0, 10) }] : [];
  const refuse = async (): Promise<never> => {
    throw new Error(`${name} is a price-only test cloud`);
  };
  const provider: Provider = {
    name,
    async listOffers(req, signal) {
      if (behaviour === "hang") return new Promise<Offer[]>(() => undefined);
      if ("fail" in behaviour) throw new Error(behaviour.fail);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, behaviour.delayMs);
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          reject(signal.reason);
        }, { once: true });
      });
      return live(req);
    },
    launch: refuse,
    describe: refuse,
    listMachines: async () => [],
    terminate: async () => undefined,
  };
  const d: ProviderDescriptor = {
    name,
    title: name,
    kind: "cloud",
    tier: "reliable",
    catalog: [row],
    listingLagMs: 0,
    hasCredentials: () => true,
    configured: async () => (o.setupHangs ? new Promise<never>(() => undefined) : { provider, source: "test", emulated: true }),
    check: async (_ctx, signal) => {
      await provider.listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never" }, signal);
      return `${name} answers`;
    },
  };
  // `boot` is the optional descriptor field the planner reads (src/core/planner/boot.ts).
  return o.boot ? Object.assign(d, { boot: o.boot }) : d;
}

/** Provider `local`: this computer, its GPU if it has one, else its CPU for small jobs. Nothing is rented. */
import type { ProviderDescriptor } from "../descriptor.js";
import { LocalProvider } from "./provider.js";

export const localDescriptor: ProviderDescriptor = {
  name: "local",
  title: "this computer",
  kind: "local",
  tier: "reliable",
  catalog: [],
  listingLagMs: 0,
  local: (machine, pricePerHour) => new LocalProvider({ machine, pricePerHour }),
};

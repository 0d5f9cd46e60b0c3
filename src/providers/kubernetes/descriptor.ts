/**
 * Kubernetes: in the dated catalog, so the planner and `kiln offers` price it, but Kiln cannot rent it yet
 * (it has no `configured`): `kiln run --provider` refuses it with the list of rentable ones.
 */
import type { ProviderDescriptor } from "../descriptor.js";

export const kubernetesDescriptor: ProviderDescriptor = {
  name: "kubernetes",
  title: "Kubernetes",
  kind: "cloud",
  tier: "reliable",
  catalog: [],
  listingLagMs: 60_000,
};

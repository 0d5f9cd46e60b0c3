/** The providers a job spec may name in `resources.providers`, in Kiln's default preference order. */
import type { ProviderName } from "../../providers/provider.js";

export const PROVIDER_NAMES = [
  "local",
  "ssh",
  "lambda",
  "runpod",
  "tensordock",
  "thunder",
  "northflank",
  "aws",
  "gcp",
  "azure",
  "kubernetes",
] as const satisfies readonly ProviderName[];

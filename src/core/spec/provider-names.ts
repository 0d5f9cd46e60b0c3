/** The providers a job spec may name in `resources.providers`, in Kiln's default preference order: the registry's. */
import { providerNames } from "../../providers/registry.js";

export const PROVIDER_NAMES = providerNames() as [string, ...string[]];

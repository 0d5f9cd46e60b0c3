/** Kubernetes: no catalog rows yet; not rentable yet (see catalogOnlyCloud). */
import { catalogOnlyCloud } from "../descriptor.js";

export const kubernetesDescriptor = catalogOnlyCloud({ name: "kubernetes", title: "Kubernetes", tier: "reliable", catalog: [] });

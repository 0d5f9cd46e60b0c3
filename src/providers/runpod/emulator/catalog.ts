/**
 * The emulated account's GPU catalog: RunPod GPU type ids and memory from references/gpu-types.mdx, prices
 * per GPU-hour in the range of RunPod's public price page (approximate; the emulator only needs them to be
 * plausible and consistent), and stock per (GPU, cloud tier, data centre) that tests can change.
 */
export type Availability = "NONE" | "LOW" | "MEDIUM" | "HIGH";
export type CloudTier = "SECURE" | "COMMUNITY";

export interface EmuGpuType {
  id: string;
  name: string;
  memory: number;
  price: { secure: number; community: number; secureSpot: number | null; communitySpot: number | null };
  maxCount: { secure: number; community: number };
}

/** The CUDA version every emulated host reports (a Pod's `cudaVersion`). */
export const HOST_CUDA = "12.8";

export const DATA_CENTERS: Record<string, string> = { "US-KS-2": "US Kansas 2", "EU-RO-1": "Europe Romania 1", "US-TX-3": "US Texas 3" };

export const EMU_GPUS: readonly EmuGpuType[] = [
  { id: "NVIDIA GeForce RTX 4090", name: "RTX 4090", memory: 24, price: { secure: 0.69, community: 0.34, secureSpot: 0.35, communitySpot: 0.2 }, maxCount: { secure: 8, community: 4 } },
  { id: "NVIDIA A100 80GB PCIe", name: "A100 PCIe", memory: 80, price: { secure: 1.64, community: 1.19, secureSpot: 0.82, communitySpot: 0.6 }, maxCount: { secure: 8, community: 4 } },
  { id: "NVIDIA A100-SXM4-80GB", name: "A100 SXM", memory: 80, price: { secure: 1.74, community: 1.39, secureSpot: 0.89, communitySpot: null }, maxCount: { secure: 8, community: 0 } },
  { id: "NVIDIA H100 80GB HBM3", name: "H100 SXM", memory: 80, price: { secure: 2.69, community: 2.39, secureSpot: 1.75, communitySpot: null }, maxCount: { secure: 8, community: 2 } },
  { id: "NVIDIA L40S", name: "L40S", memory: 48, price: { secure: 0.86, community: 0.79, secureSpot: 0.53, communitySpot: 0.4 }, maxCount: { secure: 8, community: 4 } },
  { id: "NVIDIA H200", name: "H200 SXM", memory: 141, price: { secure: 3.59, community: 0, secureSpot: 2.3, communitySpot: null }, maxCount: { secure: 8, community: 0 } },
];

/** Stock per `${gpuId}|${cloud}|${dataCenter}`; unlisted combinations have HIGH stock where the tier is sold. */
export class Stock {
  readonly #levels = new Map<string, Availability>();
  set(gpuId: string, cloud: CloudTier, dataCenter: string, level: Availability): void {
    this.#levels.set(`${gpuId}|${cloud}|${dataCenter}`, level);
  }
  /** Sold out everywhere, on both tiers. */
  soldOut(gpuId: string): void {
    for (const dc of Object.keys(DATA_CENTERS)) for (const c of ["SECURE", "COMMUNITY"] as const) this.set(gpuId, c, dc, "NONE");
  }
  level(gpu: EmuGpuType, cloud: CloudTier, dataCenter: string): Availability {
    const sold = cloud === "SECURE" ? gpu.maxCount.secure > 0 && gpu.price.secure > 0 : gpu.maxCount.community > 0 && gpu.price.community > 0;
    if (!sold) return "NONE";
    return this.#levels.get(`${gpu.id}|${cloud}|${dataCenter}`) ?? "HIGH";
  }
}

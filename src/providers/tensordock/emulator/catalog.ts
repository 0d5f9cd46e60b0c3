/**
 * The emulated organization's locations: GPU models with TensorDock's `v0Name` ids, per-GPU and per-resource
 * prices and how many can be deployed now, shaped as the fetch-hostnodes docs page shows `GET /locations`. The
 * numbers are plausible, not TensorDock's: tests and `--sim` need stock and prices, not today's market.
 * Every location forwards ports and none offers a dedicated IP, so Kiln takes the port-forwarding route that a
 * loopback sshd can model (its port is the forwarded external port).
 */
export interface EmuLocationGpu {
  v0Name: string;
  displayName: string;
  /** How many are free now; creates take from it, deletes give back. */
  free: number;
  pricePerGpuHr: number;
  maxVcpus: number;
  maxRamGb: number;
  maxStorageGb: number;
}

export interface EmuLocation {
  id: string;
  city: string;
  stateprovince: string;
  country: string;
  tier: number;
  gpus: EmuLocationGpu[];
}

/** The same per-resource prices everywhere (the docs' example values). */
export const RESOURCE_PRICES = { per_vcpu_hr: 0.003, per_gb_ram_hr: 0.002, per_gb_storage_hr: 0.00005 } as const;

export function emuLocations(): EmuLocation[] {
  return [
    {
      id: "1f0c6c5e-9d3a-4a4e-8a0e-2f5b6f1a0001",
      city: "Austin",
      stateprovince: "Texas",
      country: "United States",
      tier: 3,
      gpus: [
        { v0Name: "h100-sxm5-80gb", displayName: "H100 SXM5 80GB", free: 8, pricePerGpuHr: 2.2, maxVcpus: 128, maxRamGb: 1000, maxStorageGb: 4000 },
        { v0Name: "geforcertx4090-pcie-24gb", displayName: "NVIDIA GeForce RTX 4090 PCIe 24GB", free: 4, pricePerGpuHr: 0.35, maxVcpus: 32, maxRamGb: 128, maxStorageGb: 2000 },
      ],
    },
    {
      id: "7b2d9e41-3c55-4f0b-9d71-6a8e2c4b0002",
      city: "Winnipeg",
      stateprovince: "Manitoba",
      country: "Canada",
      tier: 3,
      gpus: [
        { v0Name: "a100-pcie-80gb", displayName: "NVIDIA A100 PCIe 80GB", free: 4, pricePerGpuHr: 1.1, maxVcpus: 64, maxRamGb: 500, maxStorageGb: 2000 },
        { v0Name: "geforcertx4090-pcie-24gb", displayName: "NVIDIA GeForce RTX 4090 PCIe 24GB", free: 2, pricePerGpuHr: 0.4, maxVcpus: 32, maxRamGb: 128, maxStorageGb: 1000 },
      ],
    },
    {
      id: "c3a81f07-58e2-4e6d-b1f4-0d9c7a3e0003",
      city: "Helsinki",
      stateprovince: "Uusimaa",
      country: "Finland",
      tier: 2,
      gpus: [{ v0Name: "rtxa6000-pcie-48gb", displayName: "NVIDIA RTX A6000 PCIe 48GB", free: 2, pricePerGpuHr: 0.45, maxVcpus: 48, maxRamGb: 256, maxStorageGb: 1500 }],
    },
  ];
}

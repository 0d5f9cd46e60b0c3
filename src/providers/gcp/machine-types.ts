/**
 * The GCE machine types Kiln rents: the accelerator-optimized A2/A3 and the G2, whose GPUs come with the
 * machine type (no `guestAccelerators` in the insert: "A2, A3 and G2 machine types have a fixed number of
 * GPUs attached"; the instance still lists them in `guestAccelerators`). Prices are us-central1 list prices
 * from Google's public VM-pricing pages around 2025-10 (dated catalog: Compute has no price API, the Cloud
 * Billing Catalog API needs its own key). Zones are a subset of where each type is sold, kept short so
 * failover stays fast; `gcp.zones` in the credentials file (or KILN_GCP_ZONES) replaces them.
 */
import { BOOT_DISK_GB, BOOT_DISK_SIZING } from "./disk.js";
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";

export interface GcpMachineType {
  name: string;
  gpu: string;
  gpuCount: number;
  vramGb: number;
  /** The accelerator type the instance reports in `guestAccelerators` (zones/Z/acceleratorTypes/NAME). */
  accelerator: string;
  vcpus: number;
  memoryGb: number;
  onDemandPerHour: number;
  spotPerHour: number;
  /**
   * Sold as Spot (and DWS flex-start) only: Google does not sell a3-highgpu-1g/2g/4g on demand [A, from
   * Google's A3 docs as remembered; the discovery document does not say].
   */
  spotOnly?: true;
  zones: readonly string[];
  /**
   * How the Cloud Billing Catalog API prices the type (./prices.ts): `vcpus` × the family's core SKU +
   * `memoryGb` (GiB) × its RAM SKU + `gpuCount` × the GPU's SKU + `localSsdGb` × the Local SSD SKU. The
   * names are the SKU descriptions' stems ("A2 Instance Core running in …", "Nvidia Tesla A100 GPU running
   * in …"); Google bills accelerator-optimized types "for their attached GPUs, predefined vCPU, memory, and
   * bundled Local SSD (if applicable)" (its accelerator-optimized machines page).
   */
  skus: { family: string; gpu: string; localSsdGb?: number };
}

const { RUNBOOK, RUNBOOK_SPOT, PUBLIC } = SOURCES;

export const GCP_MACHINE_TYPES: readonly GcpMachineType[] = [
  // a2-ultragpu-1g comes with 375 GiB of Local SSD, billed at the Local SSD rate [a2-ultragpu's row in
  // Google's A2 table]; a3-highgpu-1g with 750 GiB [A: A3 High's table as remembered]. Their SKU stems are
  // as other public SKU parsers read them; a stem with no SKU in the region leaves that row on the catalog.
  { name: "a2-highgpu-1g", gpu: "A100-40GB", gpuCount: 1, vramGb: 40, accelerator: "nvidia-tesla-a100", vcpus: 12, memoryGb: 85, onDemandPerHour: 3.67, spotPerHour: 1.47, zones: ["us-central1-a", "us-central1-c", "us-east1-b", "europe-west4-a"], skus: { family: "A2", gpu: "Nvidia Tesla A100" } },
  { name: "a2-ultragpu-1g", gpu: "A100-80GB", gpuCount: 1, vramGb: 80, accelerator: "nvidia-a100-80gb", vcpus: 12, memoryGb: 170, onDemandPerHour: 5.07, spotPerHour: 2.03, zones: ["us-central1-a", "us-central1-c", "us-east4-c", "europe-west4-a"], skus: { family: "A2", gpu: "Nvidia Tesla A100 80GB", localSsdGb: 375 } },
  { name: "g2-standard-4", gpu: "L4-24GB", gpuCount: 1, vramGb: 24, accelerator: "nvidia-l4", vcpus: 4, memoryGb: 16, onDemandPerHour: 0.71, spotPerHour: 0.28, zones: ["us-central1-a", "us-central1-b", "us-east4-a", "europe-west4-a"], skus: { family: "G2", gpu: "Nvidia L4" } },
  { name: "a3-highgpu-1g", gpu: "H100-80GB", gpuCount: 1, vramGb: 80, accelerator: "nvidia-h100-80gb", vcpus: 26, memoryGb: 234, onDemandPerHour: 11.06, spotPerHour: 3.38, spotOnly: true, zones: ["us-central1-a", "us-east4-a", "europe-west4-b"], skus: { family: "A3", gpu: "Nvidia H100 80GB", localSsdGb: 750 } },
];

export const machineTypeNamed = (name: string): GcpMachineType | undefined => GCP_MACHINE_TYPES.find((t) => t.name === name);

/** The zone's region: `us-central1-a` → `us-central1`. */
export const regionOfZone = (zone: string): string => zone.replace(/-[a-z]$/, "");

/**
 * The dated catalog. The runbook's a2-highgpu-1g ($3.67, spot top of range $1.47) is kept; the others are
 * Google's public price pages (approx.). Correction to the runbook's `gcloud` recipe: A2 machine types come
 * with their A100 attached, so `--accelerator=type=nvidia-tesla-a100,count=1` is redundant there.
 */
export const GCP_CATALOG: readonly CatalogRow[] = GCP_MACHINE_TYPES.map((t) =>
  catalogRow("gcp", t.name, t.gpu, t.vramGb, t.onDemandPerHour, t.name === "a2-highgpu-1g" ? RUNBOOK : PUBLIC, {
    spotPricePerHour: t.spotPerHour,
    spotSource: t.name === "a2-highgpu-1g" ? RUNBOOK_SPOT : PUBLIC,
    memoryGb: t.memoryGb,
    // The boot disk Kiln asks for, sizable at launch (./disk.ts).
    diskGb: BOOT_DISK_GB,
    diskSizing: BOOT_DISK_SIZING,
  }),
);

/**
 * EC2's GPU instance types as AWS sells them, with real GPU memory and us-east-1 Linux on-demand prices.
 * On-demand prices are not in the EC2 API (the AWS Pricing API serves them, from the us-east-1 pricing
 * endpoint only, with its own permission): Kiln plans with these dated rows and says so (`priceSource:
 * "catalog"`). Spot prices are live (DescribeSpotPriceHistory), so the rows' spot prices are a fallback only.
 *
 * Sources: GPUs, vCPUs, memory and instance storage from EC2 DescribeInstanceTypes (moto 5.2 ships the same
 * table, src/providers/aws/testing/moto-ec2-server.py); prices from aws.amazon.com/ec2/pricing/on-demand
 * around the catalog date, after AWS's June 2025 cut to P4/P5 prices (p4d −33 %, p5 −44 %): approximate
 * until the Pricing API is wired.
 */
import { CATALOG_DATE, type CatalogRow, SOURCES } from "../catalog-row.js";

const { RUNBOOK_SPOT, PUBLIC } = SOURCES;
/** aws.amazon.com/ec2/pricing/on-demand, us-east-1, Linux, around the catalog date (after the June 2025 P4/P5 cut). */
const AWS_PRICE_PAGE = "aws.amazon.com/ec2/pricing/on-demand us-east-1 (approx.)";

export interface AwsInstanceType {
  instanceType: string;
  gpu: string;
  gpuCount: number;
  /** Memory per GPU, GB as Kiln names GPUs (EC2 reports MiB: the A10G's 22,888 MiB is sold as 24 GB). */
  vramGb: number;
  vcpus: number;
  /** Host memory, GiB. */
  memoryGb: number;
  /** Local NVMe instance storage, GB (the root EBS volume is extra). */
  diskGb: number;
  pricePerHour: number;
  spotPricePerHour?: number;
  source: string;
  spotSource?: string;
}

export const AWS_INSTANCE_TYPES: readonly AwsInstanceType[] = [
  { instanceType: "g6.xlarge", gpu: "L4-24GB", gpuCount: 1, vramGb: 24, vcpus: 4, memoryGb: 16, diskGb: 250, pricePerHour: 0.8048, source: AWS_PRICE_PAGE },
  // The A10G is AWS's A10 variant (same 24 GB, nvidia-smi says "NVIDIA A10G", which Kiln's "a10" pattern matches).
  { instanceType: "g5.xlarge", gpu: "A10-24GB", gpuCount: 1, vramGb: 24, vcpus: 4, memoryGb: 16, diskGb: 250, pricePerHour: 1.006, source: AWS_PRICE_PAGE },
  { instanceType: "g6e.xlarge", gpu: "L40S-48GB", gpuCount: 1, vramGb: 48, vcpus: 4, memoryGb: 32, diskGb: 250, pricePerHour: 1.861, source: PUBLIC },
  // p5.4xlarge (1× H100 80GB) is sold in a few regions only (launched 2025); 1/8 of p5.48xlarge's price.
  { instanceType: "p5.4xlarge", gpu: "H100-80GB", gpuCount: 1, vramGb: 80, vcpus: 16, memoryGb: 256, diskGb: 3840, pricePerHour: 6.88, source: AWS_PRICE_PAGE },
  // The runbook prices "p4d.xlarge (1x A100 40GB)" at $3.02/h and spot at $0.91–1.20/h (runbook.md's price
  // table, "Option 3: AWS EC2" and the Strategy 4 spot table). No such type exists: AWS sells the A100 only
  // as p4d.24xlarge, 8 GPUs ($32.77/h before June 2025 = $4.10 per GPU; $21.96/h after = $2.745 per GPU).
  // The spot fallback is the runbook's per-GPU top of range × 8, marked as derived.
  { instanceType: "p4d.24xlarge", gpu: "A100-40GB", gpuCount: 8, vramGb: 40, vcpus: 96, memoryGb: 1152, diskGb: 8000, pricePerHour: 21.96, spotPricePerHour: 9.6, source: AWS_PRICE_PAGE, spotSource: `${RUNBOOK_SPOT} ×8 GPUs (derived)` },
  { instanceType: "p4de.24xlarge", gpu: "A100-80GB", gpuCount: 8, vramGb: 80, vcpus: 96, memoryGb: 1152, diskGb: 8000, pricePerHour: 27.45, source: AWS_PRICE_PAGE },
  { instanceType: "p5.48xlarge", gpu: "H100-80GB", gpuCount: 8, vramGb: 80, vcpus: 192, memoryGb: 2048, diskGb: 30720, pricePerHour: 55.04, source: AWS_PRICE_PAGE },
];

export const instanceTypeNamed = (name: string): AwsInstanceType | undefined => AWS_INSTANCE_TYPES.find((t) => t.instanceType === name);

export const AWS_CATALOG: readonly CatalogRow[] = AWS_INSTANCE_TYPES.map((t) => ({
  provider: "aws",
  instanceType: t.instanceType,
  gpu: t.gpu,
  gpuCount: t.gpuCount,
  vramGb: t.vramGb,
  pricePerHour: t.pricePerHour,
  source: t.source,
  date: CATALOG_DATE,
  memoryGb: t.memoryGb,
  diskGb: t.diskGb,
  ...(t.spotPricePerHour !== undefined && { spotPricePerHour: t.spotPricePerHour }),
  ...(t.spotSource !== undefined && { spotSource: t.spotSource }),
}));

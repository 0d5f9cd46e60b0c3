/** AWS EC2: its dated catalog rows; not rentable yet (see catalogOnlyCloud). */
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import { catalogOnlyCloud } from "../descriptor.js";

const { RUNBOOK, RUNBOOK_SPOT, PUBLIC } = SOURCES;

const CATALOG: readonly CatalogRow[] = [
  // The runbook prices one A100 40GB share of AWS p4d and calls it "p4d.xlarge"; AWS itself only sells
  // p4d.24xlarge (8 GPUs), so the name is the runbook's, kept so its numbers trace back.
  catalogRow("aws", "p4d.xlarge", "A100-40GB", 40, 3.02, RUNBOOK, { spotPricePerHour: 1.2, spotSource: RUNBOOK_SPOT }),
  catalogRow("aws", "g6e.xlarge", "L40S-48GB", 48, 1.86, PUBLIC),
];

export const awsDescriptor = catalogOnlyCloud({ name: "aws", title: "AWS EC2", tier: "reliable", catalog: CATALOG, consoleUrl: "https://console.aws.amazon.com/ec2/home#Instances:" });

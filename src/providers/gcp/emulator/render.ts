/**
 * The emulator's resources as GCE renders them (Compute v1 discovery document: `Instance`, `Operation`,
 * `InstanceList`, `InstanceAggregatedList`, `OperationList`), and Google's error envelope. int64/uint64
 * fields are JSON strings, as in the discovery document (`format: int64`, `type: string`).
 */
import { machineTypeNamed } from "../machine-types.js";

export const API_ROOT = "https://www.googleapis.com/compute/v1";

export interface EmuInstance {
  project: string;
  zone: string;
  name: string;
  id: string;
  machineType: string;
  status: string;
  statusMessage?: string;
  creationTimestamp: string;
  lastStartTimestamp?: string;
  labels: Record<string, string>;
  metadataItems: { key: string; value: string }[];
  metadataFingerprint: string;
  scheduling: Record<string, unknown>;
  spot: boolean;
  natIP: string;
  networkIP: string;
  diskSizeGb: string;
  /** The boot disk's `initializeParams.diskType` as sent (absent: the zone's default, pd-standard). */
  diskType?: string;
}

export interface EmuOperation {
  id: string;
  name: string;
  project: string;
  zone: string;
  operationType: string;
  targetName: string;
  targetId: string;
  status: "PENDING" | "RUNNING" | "DONE";
  insertTime: string;
  startTime: string;
  endTime?: string;
  statusMessage?: string;
  error?: { code: string; message: string; quotaInfo?: Record<string, unknown> };
  httpErrorStatusCode?: number;
  httpErrorMessage?: string;
}

const zoneUrl = (project: string, zone: string) => `${API_ROOT}/projects/${project}/zones/${zone}`;

export function renderInstance(i: EmuInstance): Record<string, unknown> {
  const type = machineTypeNamed(i.machineType);
  const zu = zoneUrl(i.project, i.zone);
  return {
    kind: "compute#instance",
    id: i.id,
    name: i.name,
    zone: zu,
    machineType: `${zu}/machineTypes/${i.machineType}`,
    status: i.status,
    ...(i.statusMessage && { statusMessage: i.statusMessage }),
    creationTimestamp: i.creationTimestamp,
    ...(i.lastStartTimestamp && { lastStartTimestamp: i.lastStartTimestamp }),
    labels: i.labels,
    labelFingerprint: "42WmSpB8rSM=",
    metadata: { kind: "compute#metadata", fingerprint: i.metadataFingerprint, items: i.metadataItems },
    scheduling: i.scheduling,
    networkInterfaces: [
      {
        kind: "compute#networkInterface",
        name: "nic0",
        network: `${API_ROOT}/projects/${i.project}/global/networks/default`,
        networkIP: i.networkIP,
        stackType: "IPV4_ONLY",
        accessConfigs: [{ kind: "compute#accessConfig", type: "ONE_TO_ONE_NAT", name: "External NAT", natIP: i.natIP, networkTier: "PREMIUM" }],
      },
    ],
    disks: [{ kind: "compute#attachedDisk", type: "PERSISTENT", mode: "READ_WRITE", source: `${zu}/disks/${i.name}`, deviceName: "persistent-disk-0", index: 0, boot: true, autoDelete: true, interface: "SCSI", diskSizeGb: i.diskSizeGb }],
    // A2/A3/G2 types carry their GPUs: the instance lists them though the insert named none.
    ...(type && { guestAccelerators: [{ acceleratorType: `${zu}/acceleratorTypes/${type.accelerator}`, acceleratorCount: type.gpuCount }] }),
    cpuPlatform: "Intel Cascade Lake",
    selfLink: `${zu}/instances/${i.name}`,
  };
}

export function renderOperation(o: EmuOperation): Record<string, unknown> {
  const zu = zoneUrl(o.project, o.zone);
  return {
    kind: "compute#operation",
    id: o.id,
    name: o.name,
    zone: zu,
    operationType: o.operationType,
    targetLink: `${zu}/instances/${o.targetName}`,
    targetId: o.targetId,
    status: o.status,
    user: "kiln-emulator@example.iam.gserviceaccount.com",
    progress: o.status === "DONE" ? 100 : 0,
    insertTime: o.insertTime,
    startTime: o.startTime,
    ...(o.endTime && { endTime: o.endTime }),
    ...(o.statusMessage && { statusMessage: o.statusMessage }),
    ...(o.error && {
      error: {
        errors: [
          {
            code: o.error.code,
            message: o.error.message,
            ...(o.error.quotaInfo && { errorDetails: [{ quotaInfo: o.error.quotaInfo }] }),
          },
        ],
      },
    }),
    ...(o.httpErrorStatusCode !== undefined && { httpErrorStatusCode: o.httpErrorStatusCode, httpErrorMessage: o.httpErrorMessage }),
    selfLink: `${zu}/operations/${o.name}`,
  };
}

/** Google's JSON error envelope (not in the discovery document). */
export function googleError(code: number, status: string, reason: string, message: string): Record<string, unknown> {
  return { error: { code, message, status, errors: [{ message, domain: "global", reason }] } };
}

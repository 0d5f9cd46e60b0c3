/**
 * EC2 machine ids: `<region>/<instance id>` (`us-east-1/i-0abc…`). The EC2 API is regional, so describe and
 * terminate need the region, and the core keeps only the id (docs/lifecycle.md §12): the region goes in it.
 */
import { ProviderError } from "../provider.js";

export interface Ec2MachineId {
  region: string;
  instanceId: string;
}

const ID = /^([a-z]{2}(?:-[a-z]+)+-\d+)\/(i-[0-9a-f]{8,32})$/;

export const formatMachineId = (region: string, instanceId: string): string => `${region}/${instanceId}`;

/** The region and instance id, or undefined for an id of another shape (never one of Kiln's EC2 machines). */
export const parseMachineIdLoose = (id: string): Ec2MachineId | undefined => {
  const m = ID.exec(id);
  return m ? { region: m[1]!, instanceId: m[2]! } : undefined;
};

/** Parse one of Kiln's EC2 machine ids; a malformed one is a bug (kind invalid), never "terminated". */
export function parseMachineId(id: string): Ec2MachineId {
  const p = parseMachineIdLoose(id);
  if (!p) throw new ProviderError("aws", "invalid", `not an EC2 machine id: ${JSON.stringify(id)} (expected <region>/i-<hex>, e.g. us-east-1/i-0abc…)`, { code: "kiln/bad-machine-id" });
  return p;
}

/**
 * The AWS account harness for the lifecycle tests that run against every cloud (crash injection, reclaim,
 * launch overhead): moto's EC2 and the shim in the test process (so they outlive a SIGKILLed Kiln), each
 * instance a real loopback sshd, and the environment that points a Kiln process at it.
 */
import type { AccountHarness, HarnessOptions } from "../../emulator-kit/harness.js";
import { formatMachineId, parseMachineIdLoose } from "../ids.js";
import { type Ec2Front, startEc2Front } from "./front.js";
import { startMotoEc2 } from "./moto.js";

export interface AwsHarness extends AccountHarness {
  front: Ec2Front;
}

export async function startHarness(o: HarnessOptions = {}): Promise<AwsHarness> {
  const moto = await startMotoEc2();
  if ("skip" in moto) throw new Error(`the AWS harness needs moto: ${moto.skip}`);
  const front = await startEc2Front({ moto, bootDelayMs: o.bootDelayMs ?? 200, ...(o.machineEnv && { machineEnv: o.machineEnv }) }).catch(async (e: unknown) => {
    await moto.close();
    throw e;
  });
  const idOf = (machineId: string) => parseMachineIdLoose(machineId)?.instanceId ?? machineId;
  return {
    provider: "aws",
    front,
    env: { AWS_ACCESS_KEY_ID: moto.admin.id, AWS_SECRET_ACCESS_KEY: moto.admin.secret, AWS_REGION: moto.region, KILN_AWS_REGIONS: moto.region, KILN_AWS_API_URL: front.url },
    live: () => front.instances().filter((i) => i.status !== "terminated").map((i) => ({ id: formatMachineId(i.region, i.instanceId), name: i.name, status: i.status })),
    billed: () => {
      const regionOf = new Map(front.instances().map((i) => [i.instanceId, i.region]));
      return front.billed().map((b) => ({ ...b, id: formatMachineId(regionOf.get(b.id) ?? moto.region, b.id) }));
    },
    homeOf: (id) => front.homeOf(idOf(id)),
    reclaim: (id) => front.reclaim(idOf(id)),
    close: async () => {
      await front.close();
      await moto.close();
    },
  };
}

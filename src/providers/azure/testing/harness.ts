/**
 * The Azure account harness for the lifecycle tests that run against every cloud (crash injection,
 * reclaim, launch overhead): the emulator in the test process (so it outlives a SIGKILLed Kiln), each
 * VM a real loopback sshd, and the environment that points a Kiln process at it.
 */
import type { AccountHarness, HarnessOptions } from "../../emulator-kit/harness.js";
import { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { type AzureEmulator, startAzureEmulator } from "../emulator.js";

export interface AzureHarness extends AccountHarness {
  emulator: AzureEmulator;
  reclaim(id: string): Promise<void>;
}

export async function startHarness(o: HarnessOptions = {}): Promise<AzureHarness> {
  const machines = new SshdMachines(o.machineEnv ? { env: o.machineEnv } : {});
  const emu = await startAzureEmulator({ machines, bootDelayMs: o.bootDelayMs ?? 200, regions: ["eastus"] });
  return {
    provider: "azure",
    emulator: emu,
    env: { KILN_AZURE_API_URL: emu.url, KILN_AZURE_TOKEN: emu.token, AZURE_SUBSCRIPTION_ID: emu.subscriptionId, KILN_AZURE_REGIONS: "eastus" },
    live: () => emu.live().filter((m) => m.status !== "terminated"),
    billed: () => emu.billed(),
    homeOf: (id) => emu.homeOf(id),
    reclaim: (id) => emu.reclaim(id),
    close: () => emu.close(),
  };
}

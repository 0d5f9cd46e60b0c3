/**
 * `kiln run --sim --provider azure`: the Azure emulator started inside the driver, each VM a real
 * loopback sshd authorizing the launch's key, and the real SDKs talking to it. Everything stops with the
 * driver.
 */
import { userInfo } from "node:os";
import type { SimulatedCloud } from "../descriptor.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { startAzureEmulator } from "./emulator.js";
import { emulatedProvider } from "./emulated.js";
import { azureEndBilling } from "./self-stop.js";

export async function startSimulatedAzureCloud(o: { bootDelayMs?: number; machineEnv?: Record<string, string> } = {}): Promise<SimulatedCloud> {
  const machines = new SshdMachines(o.machineEnv ? { env: o.machineEnv } : {});
  const emu = await startAzureEmulator({ machines, bootDelayMs: o.bootDelayMs ?? 500, regions: ["eastus"] });
  const provider = emulatedProvider(emu, { sshUser: userInfo().username, sshPortOf: (id) => emu.sshEndpoint(id)?.port, regions: ["eastus"] });
  return {
    provider,
    source: "the simulated subscription",
    emulated: true,
    endBilling: azureEndBilling(emu.url, emu.subscriptionId),
    billed: () => emu.billed(),
    close: () => emu.close(),
  };
}

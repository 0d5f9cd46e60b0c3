/**
 * `kiln run --sim --provider thunder`: a Thunder emulator inside the driver, each instance backed by a real
 * loopback sshd (kit SshdMachines) authorizing the key given at create, as Thunder injects it. Everything
 * stops with the driver.
 */
import { userInfo } from "node:os";
import type { SimulatedCloud } from "../descriptor.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { thunderEndBilling } from "./end-billing.js";
import { startThunderEmulator } from "./emulator.js";
import { createThunderProvider } from "./index.js";

export async function startSimulatedThunderCloud(o: { bootDelayMs?: number; machineEnv?: Record<string, string> } = {}): Promise<SimulatedCloud> {
  const machines = new SshdMachines(o.machineEnv ? { env: o.machineEnv } : {});
  const emu = await startThunderEmulator({
    bootDelayMs: o.bootDelayMs ?? 500,
    terminateDelayMs: 200,
    onLaunch: (i) => machines.start(i.uuid, i.publicKeys),
    onTerminate: (i) => machines.stop(i.uuid),
  });
  const provider = createThunderProvider({ token: emu.token, baseUrl: emu.url, minIntervalMs: 0, backoffBaseMs: 50, backoffMaxMs: 1_000, listingLagMs: 2_000, sshUser: userInfo().username });
  return {
    provider,
    source: "the simulated account",
    emulated: true,
    endBilling: thunderEndBilling(emu.url, emu.token),
    billed: () => emu.inspect().map((r) => ({ id: r.id, status: r.status, billedSeconds: r.billedSeconds, costUsd: r.costUsd })),
    close: async () => {
      await emu.close();
      await machines.closeAll();
    },
  };
}

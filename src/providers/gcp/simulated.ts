/**
 * `kiln run --sim --provider gcp`: the GCE emulator started inside the driver, each VM backed by its own
 * real loopback sshd authorizing the keys in the VM's `ssh-keys` metadata, so launch, SSH, ship, run,
 * pull and delete all run for real on this computer without an account. Everything stops with the driver.
 */
import { userInfo } from "node:os";
import type { Logger } from "../../base/logger.js";
import type { SimulatedCloud } from "../descriptor.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { emulatedGcpProvider } from "./emulated.js";
import { startGcpEmulator } from "./emulator.js";

export async function startSimulatedGcpCloud(o: { bootDelayMs?: number; logger?: Logger } = {}): Promise<SimulatedCloud> {
  const machines = new SshdMachines();
  const emu = await startGcpEmulator({ bootDelayMs: o.bootDelayMs ?? 500, deleteDelayMs: 200, machines });
  const provider = emulatedGcpProvider({ url: emu.url, project: emu.project, token: emu.token, sshUser: userInfo().username, sshPortOf: (id) => emu.sshPort(id), operationTimeoutMs: 30_000, cleanupTimeoutMs: 30_000, pollMs: 100, livePrices: { ...(o.logger && { log: o.logger }) } });
  return {
    provider,
    source: "the simulated account",
    emulated: true,
    billed: () => emu.billed(),
    close: async () => {
      await emu.close();
      await machines.closeAll();
    },
  };
}

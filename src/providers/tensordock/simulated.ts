/**
 * `kiln run --sim --provider tensordock`: a TensorDock emulator started inside the driver, each instance backed
 * by its own real loopback sshd authorizing the create's `ssh_key` and reached through its forwarded port, so
 * launch, SSH, ship, run, pull and delete all run for real on this computer without an account. Everything
 * stops with the driver.
 */
import { userInfo } from "node:os";
import type { Logger } from "../../base/logger.js";
import type { SimulatedCloud } from "../descriptor.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { startTensordockEmulator } from "./emulator.js";
import { tensordockEndBilling } from "./end-billing.js";
import { createTensordockProvider } from "./index.js";

export async function startSimulatedTensordockCloud(o: { bootDelayMs?: number; logger?: Logger } = {}): Promise<SimulatedCloud> {
  const machines = new SshdMachines();
  const emu = await startTensordockEmulator({ bootDelayMs: o.bootDelayMs ?? 500, machines });
  const provider = createTensordockProvider({ apiToken: emu.apiToken, baseUrl: emu.apiUrl, minIntervalMs: 0, backoffBaseMs: 50, backoffMaxMs: 1_000, sshUser: userInfo().username, ...(o.logger && { log: o.logger.child("tensordock") }) });
  return {
    provider,
    source: "the simulated account",
    emulated: true,
    endBilling: tensordockEndBilling(emu.apiUrl, emu.apiToken),
    billed: () => emu.inspect().map((i) => ({ id: i.id, status: i.status === "deleted" || i.status === "deleting" ? "terminated" : i.status, billedSeconds: i.billedSeconds, costUsd: i.costUsd })),
    close: () => emu.close(),
  };
}

/**
 * `kiln run --sim --provider runpod`: a RunPod emulator started inside the driver, each pod backed by its own
 * real loopback sshd authorizing the pod's `PUBLIC_KEY`, so launch, SSH, ship, run, pull and delete all run for
 * real on this computer without an account. Everything stops with the driver.
 */
import type { Logger } from "../../base/logger.js";
import type { SimulatedCloud } from "../descriptor.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { runpodEndBilling } from "./end-billing.js";
import { startRunpodEmulator } from "./emulator.js";
import { createRunpodProvider } from "./index.js";

export async function startSimulatedRunpodCloud(o: { bootDelayMs?: number; logger?: Logger } = {}): Promise<SimulatedCloud> {
  const machines = new SshdMachines();
  const emu = await startRunpodEmulator({ bootDelayMs: o.bootDelayMs ?? 500, machines });
  const provider = createRunpodProvider({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, backoffBaseMs: 50, backoffMaxMs: 1_000, ...(o.logger && { log: o.logger.child("runpod") }) });
  return {
    provider,
    source: "the simulated account",
    emulated: true,
    endBilling: runpodEndBilling(emu.url, emu.apiKey),
    billed: () => emu.inspect().map((p) => ({ id: p.id, status: p.status === "TERMINATED" ? "terminated" : p.status.toLowerCase(), billedSeconds: p.billedSeconds, costUsd: p.costUsd, diskGb: p.disk })),
    close: () => emu.close(),
  };
}

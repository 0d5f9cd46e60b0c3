/**
 * (Lives in a testing/ folder under src so tests can import it; the build skips testing/ folders.)
 *
 * RunPod's emulated account for the lifecycle tests that run against every cloud (crash injection, reclaim
 * and recovery, the launch-overhead bench): the emulator in the test process (so it outlives a SIGKILLed
 * Kiln), each pod a real loopback sshd authorizing the pod's `PUBLIC_KEY`, and the environment that points a
 * Kiln process at it. `reclaim(id)` takes a spot pod away as RunPod does: no notice, the pod EXITED.
 */
import type { AccountHarness, HarnessOptions } from "../../emulator-kit/harness.js";
import { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { type RunpodEmulator, type RunpodEmulatorOptions, startRunpodEmulator } from "../emulator.js";

export interface RunpodHarness extends AccountHarness {
  emu: RunpodEmulator;
}

export async function startHarness(o: HarnessOptions & Omit<RunpodEmulatorOptions, "machines" | "bootDelayMs"> = {}): Promise<RunpodHarness> {
  const { machineEnv, bootDelayMs, ...emuOptions } = o;
  const machines = new SshdMachines(machineEnv ? { env: machineEnv } : {});
  const emu = await startRunpodEmulator({ bootDelayMs: bootDelayMs ?? 200, ...emuOptions, machines });
  return {
    provider: "runpod",
    emu,
    env: { RUNPOD_API_KEY: emu.apiKey, KILN_RUNPOD_API_URL: emu.url },
    live: () =>
      emu
        .inspect()
        .filter((p) => p.status !== "TERMINATED")
        .map((p) => ({ id: p.id, name: p.name, status: p.status })),
    billed: () => emu.inspect().map((p) => ({ id: p.id, status: p.status === "TERMINATED" ? "terminated" : p.status.toLowerCase(), billedSeconds: p.billedSeconds, costUsd: p.costUsd })),
    homeOf: (id) => emu.account.homeOf(id),
    reclaim: async (id) => {
      if (!(await emu.reclaim(id))) throw new Error(`pod ${id} is not a live interruptible pod: nothing to reclaim`);
    },
    close: () => emu.close(),
  };
}

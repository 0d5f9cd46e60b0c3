/**
 * (Lives in a testing/ folder under src so tests can import it; the build skips testing/ folders.)
 *
 * TensorDock's emulated organization for the lifecycle tests that run against every cloud (crash injection, the
 * launch-overhead bench): the emulator in the test process (so it outlives a SIGKILLed Kiln), each instance a
 * real loopback sshd authorizing the create's `ssh_key` behind its forwarded port, and the environment that
 * points a Kiln process at it. No `reclaim`: TensorDock's v2 API has no spot instances.
 */
import { userInfo } from "node:os";
import type { AccountHarness, HarnessOptions } from "../../emulator-kit/harness.js";
import { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { startTensordockEmulator, type TensordockEmulator, type TensordockEmulatorOptions } from "../emulator.js";

export interface TensordockHarness extends AccountHarness {
  emu: TensordockEmulator;
}

export async function startHarness(o: HarnessOptions & Omit<TensordockEmulatorOptions, "machines" | "bootDelayMs"> = {}): Promise<TensordockHarness> {
  const { machineEnv, bootDelayMs, ...emuOptions } = o;
  const machines = new SshdMachines(machineEnv ? { env: machineEnv } : {});
  const emu = await startTensordockEmulator({ bootDelayMs: bootDelayMs ?? 200, ...emuOptions, machines });
  const gone = (s: string) => s === "deleted" || s === "deleting";
  return {
    provider: "tensordock",
    emu,
    env: { TENSORDOCK_API_TOKEN: emu.apiToken, KILN_TENSORDOCK_API_URL: emu.apiUrl, KILN_TENSORDOCK_SSH_USER: userInfo().username },
    live: () =>
      emu
        .inspect()
        .filter((i) => !gone(i.status))
        .map((i) => ({ id: i.id, name: i.name, status: i.status })),
    billed: () => emu.inspect().map((i) => ({ id: i.id, status: gone(i.status) ? "terminated" : i.status, billedSeconds: i.billedSeconds, costUsd: i.costUsd })),
    homeOf: (id) => emu.account.homeOf(id),
    close: () => emu.close(),
  };
}

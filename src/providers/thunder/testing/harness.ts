/**
 * (Test tooling; the build skips testing/ folders.) The Thunder emulator in the test process — so it outlives
 * a SIGKILLed Kiln — with each instance a loopback sshd, and the environment that points a Kiln process at
 * it. Thunder has no spot, so there is no `reclaim`.
 */
import type { AccountHarness, HarnessOptions } from "../../emulator-kit/harness.js";
import { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { startThunderEmulator, type ThunderEmulatorOptions } from "../emulator.js";

export async function startHarness(o: HarnessOptions & { emulator?: Omit<ThunderEmulatorOptions, "onLaunch" | "onTerminate"> } = {}): Promise<AccountHarness & { emu: Awaited<ReturnType<typeof startThunderEmulator>> }> {
  const machines = new SshdMachines(o.machineEnv ? { env: o.machineEnv } : {});
  const emu = await startThunderEmulator({
    bootDelayMs: o.bootDelayMs ?? 200,
    terminateDelayMs: 100,
    ...o.emulator,
    onLaunch: (i) => machines.start(i.uuid, i.publicKeys),
    onTerminate: (i) => machines.stop(i.uuid),
  });
  return {
    provider: "thunder",
    emu,
    env: { TNR_API_TOKEN: emu.token, KILN_THUNDER_API_URL: emu.url },
    // DELETING has stopped billing (the emulator's meter ends at the delete call); anything else may bill.
    live: () => [...emu.account.instances.values()].filter((i) => i.status !== "DELETING").map((i) => ({ id: i.uuid, name: undefined, status: i.status })),
    billed: () => emu.inspect().map((r) => ({ id: r.id, status: r.status, billedSeconds: r.billedSeconds, costUsd: r.costUsd })),
    homeOf: (id) => machines.homeOf(id),
    close: async () => {
      await emu.close();
      await machines.closeAll();
    },
  };
}

/**
 * (Test tooling.) The GCE emulator as an {@link AccountHarness} for the lifecycle tests every cloud runs
 * (crash injection, reclaim and recovery, the launch-overhead bench): the emulator in the test process (so
 * it outlives a SIGKILLed Kiln), each VM a real loopback sshd, and the environment that points a Kiln
 * process at it (KILN_GCP_API_URL, KILN_GCP_TOKEN, GOOGLE_CLOUD_PROJECT).
 */
import type { AccountHarness, HarnessOptions } from "../../emulator-kit/harness.js";
import { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { type GcpEmulator, startGcpEmulator } from "../emulator.js";

export interface GcpHarness extends AccountHarness {
  emu: GcpEmulator;
  reclaim(id: string): Promise<void>;
}

export async function startHarness(o: HarnessOptions = {}): Promise<GcpHarness> {
  const machines = new SshdMachines(o.machineEnv ? { env: o.machineEnv } : {});
  const emu = await startGcpEmulator({ bootDelayMs: o.bootDelayMs ?? 200, deleteDelayMs: 100, preemptNoticeMs: 500, machines });
  return {
    provider: "gcp",
    emu,
    env: { KILN_GCP_API_URL: emu.url, KILN_GCP_TOKEN: emu.token, GOOGLE_CLOUD_PROJECT: emu.project },
    live: () => emu.live(),
    billed: () => emu.billed(),
    homeOf: (id) => machines.homeOf(id),
    /**
     * A preemption as GCE does it (a `compute.instances.preempted` operation, STOPPING, deleted), resolved
     * once the VM is gone. GCE preempts only Spot VMs; the shared tests may run on-demand, so the harness
     * takes a standard VM away the same way (`force`). The notice (metadata `preempted` TRUE) comes 0.5 s
     * before the VM goes (GCE: 30 s).
     */
    reclaim: async (id) => {
      emu.account.preempt(id, { force: true });
      const deadline = Date.now() + 10_000;
      while (emu.account.instances.has(id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
    close: async () => {
      await emu.close();
      await machines.closeAll();
    },
  };
}

/**
 * `kiln run --sim`: a Lambda emulator started inside the driver, each instance backed by its own real
 * loopback sshd, so the whole flow — launch, SSH, ship, run, pull, terminate — runs for real on this
 * computer without an account. The instance authorizes the SSH keys named at launch, as Lambda does.
 * Everything stops with the driver; a driver killed mid-run leaves its sshd's in its process group,
 * which reconciliation signals.
 */
import { appendFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { KilnError } from "../../base/errors.js";
import type { SimulatedCloud } from "../descriptor.js";
import { startSimulatedLambda } from "./configured.js";
import { lambdaEndBilling } from "./descriptor.js";

interface Sshd {
  dir: string;
  setEnv(vars: Record<string, string>): void;
  host: string;
  port: number;
  cleanup(): Promise<void>;
}

export async function startSimulatedLambdaCloud(o: { bootDelayMs?: number } = {}): Promise<SimulatedCloud> {
  let startSshd: () => Promise<Sshd>;
  try {
    // The harness is test tooling (left out of the npm build); `--sim` needs a source checkout.
    ({ startSshd } = await import("../../remote/ssh/loopback-sshd.js"));
  } catch (e) {
    throw new KilnError("sim_unavailable", "`--sim` needs the loopback sshd harness (src/remote/ssh/loopback-sshd.ts), which this build does not include", { cause: e });
  }
  const sshds = new Map<string, Sshd>();
  const sim = await startSimulatedLambda({
    sshUser: userInfo().username,
    emulator: {
      bootDelayMs: o.bootDelayMs ?? 500,
      terminateDelayMs: 200,
      // Terminating the instance stops what backs it, as on a real cloud.
      onTerminate: async (i) => {
        const s = sshds.get(i.id);
        sshds.delete(i.id);
        await s?.cleanup();
      },
    },
    onLaunch: async (i) => {
      const s = await startSshd();
      sshds.set(i.id, s);
      const inst = sim.emulator.account.instances.get(i.id);
      const keys = sim.emulator.account.sshKeys.filter((k) => inst?.sshKeyNames.includes(k.name));
      for (const k of keys) appendFileSync(join(s.dir, "authorized_keys"), `${k.public_key}\n`);
      // The file systems it was launched with, at /lambda/nfs/NAME as its code sees them (emulator/fs-contents.ts).
      const mounts = sim.emulator.mountsOf(i.id);
      if (Object.keys(mounts).length > 0) s.setEnv({ KILN_SIM_MOUNTS: JSON.stringify(mounts) });
      return { ip: s.host, port: s.port };
    },
  });
  const apiKey = sim.emulator.apiKey;
  const url = sim.emulator.url;
  return {
    provider: sim.provider,
    source: "the simulated account",
    emulated: true,
    endBilling: lambdaEndBilling(url, apiKey),
    billed: () => sim.emulator.inspect().map((r) => ({ id: r.id, status: r.status, billedSeconds: r.billedSeconds, costUsd: r.costUsd })),
    close: async () => {
      for (const s of sshds.values()) await s.cleanup();
      await sim.close();
    },
  };
}

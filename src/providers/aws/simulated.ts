/**
 * `kiln run --sim --provider aws`: moto's EC2 in server mode from the repository's .venv, behind the shim
 * (./testing/front.ts) whose instances are real loopback sshd's, and the emulated provider pointed at it.
 * Refuses clearly when the .venv or moto is missing. Everything stops with the driver (moto exits when its
 * stdin closes).
 */
import { KilnError } from "../../base/errors.js";
import type { SimulatedCloud } from "../descriptor.js";
import { AwsClient } from "./client.js";
import { EMULATED_POWEROFF, emulatedProvider } from "./configured.js";
import { formatMachineId } from "./ids.js";

/** `python`: a test seam (the interpreter that runs moto; default the repository's .venv). */
export async function startSimulatedAws(o: { bootDelayMs?: number; python?: string } = {}): Promise<SimulatedCloud> {
  let testing: [typeof import("./testing/moto.js"), typeof import("./testing/front.js")];
  try {
    testing = await Promise.all([import("./testing/moto.js"), import("./testing/front.js")]);
  } catch (e) {
    throw new KilnError("sim_unavailable", "`--sim --provider aws` needs Kiln's EC2 test harness (src/providers/aws/testing/), which this build does not include", { cause: e });
  }
  const [{ startMotoEc2 }, { startEc2Front }] = testing;
  const moto = await startMotoEc2(o.python ? { python: o.python } : {});
  if ("skip" in moto) throw new KilnError("sim_unavailable", `\`--sim --provider aws\` runs moto's EC2 emulator from the repository's .venv, and it cannot: ${moto.skip}`);
  const front = await startEc2Front({ moto, bootDelayMs: o.bootDelayMs ?? 500 }).catch(async (e: unknown) => {
    await moto.close();
    throw e;
  });
  const client = new AwsClient({ endpoint: front.url, credentials: { accessKeyId: moto.admin.id, secretAccessKey: moto.admin.secret }, maxAttempts: 3, requestTimeoutMs: 10_000 });
  return {
    provider: emulatedProvider({ client, regions: [moto.region], shimUrl: front.url }),
    source: "the simulated account (moto)",
    emulated: true,
    endBilling: () => EMULATED_POWEROFF,
    billed: () => {
      const regionOf = new Map(front.instances().map((i) => [i.instanceId, i.region]));
      return front.billed().map((b) => ({ ...b, id: formatMachineId(regionOf.get(b.id) ?? moto.region, b.id) }));
    },
    close: async () => {
      client.destroy();
      await front.close();
      await moto.close();
    },
  };
}

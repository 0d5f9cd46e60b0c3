// The shared provider contract, run against TensordockProvider on the emulator, with every request and answer
// checked against the third-party OpenAPI document (corrected where TensorDock's docs contradict it) and Kiln's
// own schema for /locations (testing/spec.ts).
import { expect } from "vitest";
import { runProviderContract } from "../contract.js";
import { startTensordockEmulator } from "./emulator.js";
import { TensordockProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedTensordockClient } from "./testing/spec.js";

runProviderContract("tensordock (emulator)", async () => {
  const emu = await startTensordockEmulator({ bootDelayMs: 50, deleteDelayMs: 30 });
  const { client, check } = checkedTensordockClient(emu);
  const broken = checkedTensordockClient({ apiUrl: emu.apiUrl, apiToken: "td_NOT_THE_TOKEN" });
  const austin = emu.account.locations[0]!.id;
  return {
    provider: new TensordockProvider({ client }),
    gpuRequest: { gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" },
    launchRequest: (offer, intentId) => ({ intentId, offer, sshPublicKey: PUB }),
    createForeignMachine: () =>
      client.createInstance(
        { data: { type: "virtualmachine", attributes: { name: "my-notebook", type: "virtualmachine", image: "ubuntu2404", resources: { vcpu_count: 4, ram_gb: 16, storage_gb: 100, gpus: { "h100-sxm5-80gb": { count: 1 } } }, location_id: austin, useDedicatedIp: false, ssh_key: PUB } } },
        AbortSignal.timeout(5_000),
      ),
    brokenProvider: () => new TensordockProvider({ client: broken.client }),
    lagNextLaunch: (ms) => emu.inject({ kind: "listing-lag", delayMs: ms, times: 1 }),
    close: async () => {
      await emu.close();
      expect([...check.violations, ...broken.check.violations]).toEqual([]);
    },
  };
});

// The shared provider contract, run against RunpodProvider on the emulator, with every request and answer
// checked against RunPod's REST v2 OpenAPI document and the GraphQL subset (testing/specs.ts).
import { expect } from "vitest";
import { runProviderContract } from "../contract.js";
import { startRunpodEmulator } from "./emulator.js";
import { RunpodProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedRunpodClient } from "./testing/specs.js";

runProviderContract(
  "runpod (emulator)",
  async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 50 });
    const { client, check } = checkedRunpodClient(emu);
    const broken = checkedRunpodClient({ url: emu.url, apiKey: "rpa_NOT_THE_KEY" });
    return {
      provider: new RunpodProvider({ client }),
      gpuRequest: { gpus: ["A100-80GB"], count: 1, minVramGb: 80, spot: "never" },
      launchRequest: (offer, intentId) => ({ intentId, offer, sshPublicKey: PUB }),
      createForeignMachine: async () => (await client.createPod({ name: "my-notebook", image: "runpod/pytorch:latest", gpu: { id: "NVIDIA GeForce RTX 4090", count: 1 }, cloud: "SECURE", disk: 20, ports: ["8888/http"], env: {} }, AbortSignal.timeout(5_000))).id,
      brokenProvider: () => new RunpodProvider({ client: broken.client }),
      lagNextLaunch: (ms) => emu.inject({ kind: "listing-lag", delayMs: ms, times: 1 }),
      close: async () => {
        await emu.close();
        expect([...check.violations, ...broken.check.violations]).toEqual([]);
      },
    };
  },
  {
    skips: [
      {
        // REST v2's createPod has no idempotency token (and names need not be unique): a second POST is a second pod.
        // The lifecycle never relaunches an intent; an intent whose answer was lost is resolved by name.
        reason: "RunPod's API has no idempotency token for creates; Kiln never relaunches an intent, it finds it by name",
        tests: ["a second launch of the same intent is the same machine"],
      },
    ],
  },
);

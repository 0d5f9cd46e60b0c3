// The shared provider contract against the local provider ("this machine", with an A100 40GB as the
// machine the GPU probe found).
import { describe, expect, it } from "vitest";
import { runProviderContract } from "../contract.js";
import { LocalProvider } from "./provider.js";

describe("local provider offers", () => {
  it("a CPU-only computer offers no machine for a 1-GPU request", async () => {
    const cpu = new LocalProvider({ machine: { gpu: "cpu", gpuCount: 0, vramGb: 0 }, pricePerHour: 0 });
    expect(await cpu.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, AbortSignal.timeout(1_000))).toEqual([]);
  });
});

runProviderContract(
  "local",
  async () => ({
    provider: new LocalProvider({ machine: { gpu: "A100-40GB", gpuCount: 1, vramGb: 40 }, pricePerHour: 0 }),
    gpuRequest: { gpus: ["A100-40GB"], count: 1, minVramGb: 16, spot: "never" },
    async close() {},
  }),
  {
    skips: [
      {
        reason: "the local provider only knows machines it registered itself: there is no foreign machine to hide",
        tests: ["listMachines returns only Kiln's machines"],
      },
      { reason: "nothing can fail: no API, no credentials, no network; launch only registers this machine", tests: ["errors are ProviderErrors with a kind"] },
      { reason: "machines live in this process's memory: there is no listing to lag", tests: ["a lagging listing shows a new machine within the lag"] },
    ],
  },
);

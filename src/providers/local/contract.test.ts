// The shared provider contract against the local provider ("this machine", with an A100 40GB as the
// machine the GPU probe found).
import { runProviderContract } from "../contract.js";
import { LocalProvider } from "./provider.js";

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
    ],
  },
);

// The shared provider contract, run against AzureProvider (the real SDKs) on the Azure emulator, with
// every Microsoft.Compute exchange checked against the 2024-07-01 Swagger.
import { expect } from "vitest";
import { runProviderContract } from "../contract.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { staticToken } from "./auth.js";
import { AzureClient } from "./client.js";
import { startAzureEmulator } from "./emulator.js";
import { emulatedProvider } from "./emulated.js";
import { AzureProvider } from "./provider.js";
import { swaggerViolations } from "./testing/swagger.js";
import { TEST_PUBLIC_KEY } from "./testing/fixtures.js";

runProviderContract("azure (emulator)", async () => {
  const emu = await startAzureEmulator({ machines: new SshdMachines(), bootDelayMs: 50 });
  const provider = emulatedProvider(emu, { sshPortOf: (id) => emu.sshEndpoint(id)?.port });
  return {
    provider,
    gpuRequest: { gpus: ["A100-80GB"], count: 1, minVramGb: 80, spot: "allowed" },
    launchRequest: (offer, intentId) => ({ intentId, offer, sshPublicKey: TEST_PUBLIC_KEY }),
    unknownId: "kiln-never-launched/kiln-never-launched",
    createForeignMachine: async () => {
      // A group and VM someone made by hand, without Kiln's name or tags.
      emu.account.groups.set("my-notebook", { name: "my-notebook", location: "eastus", tags: {}, deleting: false });
      return "my-notebook/my-notebook";
    },
    brokenProvider: () =>
      new AzureProvider({
        client: new AzureClient({ subscriptionId: emu.subscriptionId, credential: staticToken("not-the-token"), endpoint: emu.url, maxRetries: 0 }),
        sshSourceCidr: async () => "127.0.0.1/32",
        pricesUrl: false,
      }),
    lagNextLaunch: (ms) => emu.inject({ kind: "listing-lag", delayMs: ms, times: 1 }),
    close: async () => {
      await emu.close();
      expect(await swaggerViolations(emu.exchanges)).toEqual([]);
    },
  };
}, {
  skips: [
    {
      // Offers come from the public Retail Prices API (or the catalog), so listOffers needs no credential
      // and cannot fail on a bad one. faults.test.ts checks that a wrong token is an auth ProviderError.
      reason: "Azure's listOffers reads public prices and needs no credentials; bad credentials are tested in faults.test.ts",
      tests: ["errors are ProviderErrors with a kind"],
    },
  ],
});

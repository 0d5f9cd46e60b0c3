// The shared provider contract, run against GcpProvider on the GCE emulator, with every request and
// reply checked against the Compute v1 discovery document.
import { expect } from "vitest";
import { runProviderContract } from "../contract.js";
import { emulatedGcpProvider } from "./emulated.js";
import { startGcpEmulator } from "./emulator.js";
import { discoveryChecker } from "./testing/discovery.js";

const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl kiln-test";

runProviderContract("gcp (emulator)", async () => {
  const check = discoveryChecker();
  const emu = await startGcpEmulator({ bootDelayMs: 50, opDelayMs: 10, deleteDelayMs: 50, onExchange: check.onExchange });
  const provider = emulatedGcpProvider({ url: emu.url, project: emu.project, token: emu.token, livePrices: true });
  // The SDK loads on the first call (about a second, more on a busy machine): load it here, so "launch
  // returns fast" measures the launch.
  await provider.listMachines(AbortSignal.timeout(60_000));
  return {
    provider,
    gpuRequest: { gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" },
    launchRequest: (offer, intentId) => ({ intentId, offer, sshKeyName: "kiln", sshPublicKey: PUB }),
    createForeignMachine: async () => {
      // Someone's own VM in the same project: never listed, never touched.
      emu.account.insert("us-central1-a", { name: "my-notebook", machineType: "zones/us-central1-a/machineTypes/g2-standard-4" }, undefined, undefined);
      return `${emu.project}/us-central1-a/my-notebook`;
    },
    brokenProvider: () => emulatedGcpProvider({ url: emu.url, project: emu.project, token: "ya29.not-the-token", client: { maxAttempts: 1 } }),
    unknownId: `${emu.project}/us-central1-a/kiln-never-launched`,
    lagNextLaunch: (ms) => emu.inject({ kind: "listing-lag", match: { method: "POST" }, delayMs: ms, times: 1 }),
    close: async () => {
      await emu.close();
      expect(check.violations).toEqual([]);
    },
  };
}, {
  skips: [
    {
      // Compute has no price or stock endpoint; prices come from the Cloud Billing Catalog API, and when it
      // refuses a credential (or is down) the dated catalog stands in with a warning (prices.test.ts), so
      // listOffers never fails on a broken credential. Bad credentials are tested on launch/describe/list
      // in provider.test.ts and faults.test.ts.
      reason: "GCE listOffers falls back to the dated catalog when the Billing Catalog API refuses: it does not throw",
      tests: ["errors are ProviderErrors with a kind"],
    },
  ],
});

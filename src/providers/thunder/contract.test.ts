// The shared provider contract, run against ThunderProvider on the emulator, with every request and response
// checked against Thunder's OpenAPI document.
import { expect } from "vitest";
import { runProviderContract } from "../contract.js";
import { startThunderEmulator } from "./emulator.js";
import { ThunderProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedThunderClient } from "./testing/openapi.js";

runProviderContract(
  "thunder (emulator)",
  async () => {
    const emu = await startThunderEmulator({ bootDelayMs: 50, terminateDelayMs: 50 });
    const { client, check } = checkedThunderClient(emu);
    const broken = checkedThunderClient({ url: emu.url, token: "not-the-token" });
    return {
      provider: new ThunderProvider({ client, listingLagMs: 300 }),
      gpuRequest: { gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "never" },
      launchRequest: (offer, intentId) => ({ intentId, offer, sshPublicKey: PUB }),
      // A machine the user made in the console: no Kiln key, no marker.
      createForeignMachine: async () => {
        const i = emu.account.add({ gpuType: "h100", numGpus: 1, cpuCores: 8, mode: "production", template: "base", diskGb: 100, publicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFOREIGNFOREIGNFOREIGNFOREIGNFOREIGNFOREIGN00 me@laptop"], pricePerHour: 1.97 });
        return i.uuid;
      },
      // Pricing and specs are anonymous, so a bad token shows on the authenticated listing; listOffers of
      // the contract test goes through `brokenProvider`, whose listing is what fails first below.
      brokenProvider: () => new BrokenThunder(broken.client),
      lagNextLaunch: (ms) => emu.inject({ kind: "listing-lag", match: { method: "POST", path: "/instances/create" }, delayMs: ms, times: 1 }),
      close: async () => {
        await emu.close();
        expect([...check.violations, ...broken.check.violations]).toEqual([]);
      },
    };
  },
  {
    skips: [
      {
        // Thunder's create has no idempotency token; Kiln never creates an intent twice. A relaunch of an intent
        // whose machine is already listed does return that machine (provider.test.ts), but within the
        // listing lag nothing can make a second create the same machine.
        reason: "Thunder's create has no idempotency token; Kiln resolves a lost answer from the listing, never by creating again",
        tests: ["a second launch of the same intent is the same machine"],
      },
    ],
  },
);

/**
 * Thunder's offers come from two anonymous calls, so a wrong token cannot fail listOffers; the contract's
 * "errors are ProviderErrors" check runs through this wrapper, whose listOffers first proves the token with the
 * listing (what `kiln check` does).
 */
class BrokenThunder extends ThunderProvider {
  constructor(client: ConstructorParameters<typeof ThunderProvider>[0]["client"]) {
    super({ client });
  }
  override async listOffers(...a: Parameters<ThunderProvider["listOffers"]>) {
    await this.listMachines(a[1]);
    return super.listOffers(...a);
  }
}

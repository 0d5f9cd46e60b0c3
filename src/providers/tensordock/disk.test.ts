// Sizing a VM's disk at launch (LaunchRequest.diskGb): TensorDock offers say how (v2 `resources.storage_gb`, from
// the 100 GB floor to the location's `max_storage_gb`, at `pricing.per_gb_storage_hr`), a sized launch reaches the
// VM, and a size over the location's limit is refused — by Kiln before the call, and by the API if asked.
import { afterEach, describe, expect, it } from "vitest";
import { HOURS_PER_MONTH } from "../provider.js";
import { RESOURCE_PRICES } from "./emulator/catalog.js";
import { type TensordockEmulator, startTensordockEmulator } from "./emulator.js";
import { DISK_GB, MIN_DISK_GB } from "./offers.js";
import { TensordockProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedTensordockClient } from "./testing/spec.js";

const signal = () => AbortSignal.timeout(10_000);
let emu: TensordockEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

describe("TensorDock disks sized at launch", () => {
  it("offers carry the location's storage range and live price; a sized launch makes a VM with that disk", async () => {
    emu = await startTensordockEmulator({ bootDelayMs: 10, deleteDelayMs: 0 });
    const { client, check } = checkedTensordockClient(emu, { maxAttempts: 1 });
    const p = new TensordockProvider({ client });
    const [offer] = await p.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
    expect(offer!.diskSizing).toMatchObject({ minGb: MIN_DISK_GB, includedGb: DISK_GB, billedAfterTermination: false, priceSource: expect.stringContaining("per_gb_storage_hr") });
    expect(offer!.diskSizing!.usdPerGbMonth).toBeCloseTo(RESOURCE_PRICES.per_gb_storage_hr * HOURS_PER_MONTH, 9);
    const sized = await p.launch({ intentId: "disk-a", offer: offer!, sshPublicKey: PUB, diskGb: 470 }, signal());
    const plain = await p.launch({ intentId: "disk-b", offer: offer!, sshPublicKey: PUB }, signal());
    expect([sized, plain].map((m) => emu!.account.get(m.id)?.storageGb)).toEqual([470, DISK_GB]);
    expect(check.violations).toEqual([]);
  });

  it("a size over the location's max_storage_gb is refused: by Kiln before the call, and by the API when asked", async () => {
    emu = await startTensordockEmulator({ bootDelayMs: 10, deleteDelayMs: 0 });
    const { client } = checkedTensordockClient(emu, { maxAttempts: 1 });
    const p = new TensordockProvider({ client });
    const [offer] = await p.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
    const max = offer!.diskSizing!.maxGb;
    await expect(p.launch({ intentId: "big", offer: offer!, sshPublicKey: PUB, diskGb: max + 50 }, signal())).rejects.toMatchObject({ kind: "invalid", message: /over the most it can be sized to/ });
    expect(emu.inspect()).toEqual([]);
    // An offer that claims more room than the location has: the API's own refusal.
    const stretched = { ...offer!, diskSizing: { ...offer!.diskSizing!, maxGb: max + 1000 } };
    await expect(p.launch({ intentId: "api", offer: stretched, sshPublicKey: PUB, diskGb: max + 50 }, signal())).rejects.toMatchObject({ kind: "invalid", message: /exceed what this location can deploy/ });
    expect(emu.inspect()).toEqual([]);
  });
});

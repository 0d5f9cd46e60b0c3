// Sizing a VM's disk at launch (LaunchRequest.diskGb): GCE offers say how (the boot disk's
// `initializeParams.diskSizeGb`, pd-balanced at its GB-month price), a sized launch inserts a pd-balanced boot
// disk of that size (autoDelete, so it goes with the VM), and a size over pd-balanced's limit is refused.
import { afterEach, describe, expect, it } from "vitest";
import type { Offer } from "../provider.js";
import { BOOT_DISK_GB, BOOT_DISK_SIZING } from "./disk.js";
import type { GcpProvider } from "./provider.js";
import { type Fixture, gcpFixture, TEST_PUB } from "./testing/fixture.js";

const signal = () => AbortSignal.timeout(30_000);
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  expect(fx?.check.violations ?? []).toEqual([]);
  fx = undefined;
});

async function offer(p: GcpProvider): Promise<Offer> {
  const o = (await p.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal()))[0];
  if (!o) throw new Error("no L4 offer");
  return o;
}

describe("GCE disks sized at launch", () => {
  it("offers carry the boot disk's sizing; a sized launch inserts a pd-balanced boot disk of that size", async () => {
    fx = await gcpFixture();
    const o = await offer(fx.provider);
    expect(o).toMatchObject({ diskGb: BOOT_DISK_GB, diskSizing: BOOT_DISK_SIZING });
    expect(BOOT_DISK_SIZING).toMatchObject({ usdPerGbMonth: 0.1, includedGb: 0, billedAfterTermination: false });
    const sized = await fx.provider.launch({ intentId: "abcdef01-0000000001", offer: o, sshPublicKey: TEST_PUB, diskGb: 470 }, signal());
    const plain = await fx.provider.launch({ intentId: "abcdef01-0000000002", offer: o, sshPublicKey: TEST_PUB }, signal());
    const inst = (id: string) => fx!.emu.account.instances.get(id)!;
    expect({ size: inst(sized.id).diskSizeGb, type: inst(sized.id).diskType }).toEqual({ size: "470", type: `zones/${o.region}/diskTypes/pd-balanced` });
    expect({ size: inst(plain.id).diskSizeGb, type: inst(plain.id).diskType }).toEqual({ size: String(BOOT_DISK_GB), type: undefined });
  });

  it("a size over pd-balanced's limit is refused: by Kiln before the insert, and by the API when asked", async () => {
    fx = await gcpFixture();
    const o = await offer(fx.provider);
    await expect(fx.provider.launch({ intentId: "abcdef01-0000000003", offer: o, sshPublicKey: TEST_PUB, diskGb: 70_000 }, signal())).rejects.toMatchObject({ kind: "invalid", message: /over the most it can be sized to/ });
    const stretched = { ...o, diskSizing: { ...BOOT_DISK_SIZING, maxGb: 100_000 } };
    await expect(fx.provider.launch({ intentId: "abcdef01-0000000004", offer: stretched, sshPublicKey: TEST_PUB, diskGb: 70_000 }, signal())).rejects.toMatchObject({ kind: "invalid", message: /Disk size cannot be larger than 65536 GB/ });
    expect(fx.emu.account.instances.size).toBe(0);
  });
});

// Sizing a pod's disk at launch (LaunchRequest.diskGb): RunPod's offers say how (the container disk, its price
// and largest size), a sized launch reaches the pod — REST v2 `disk` on demand, GraphQL `containerDiskInGb` for
// spot — and a size the offer cannot take is refused before any call, never launched smaller.
import { describe, expect, it } from "vitest";
import { HOURS_PER_MONTH } from "../provider.js";
import { CONTAINER_DISK_GB, CONTAINER_DISK_SIZING } from "./disk.js";
import { startRunpodEmulator } from "./emulator.js";
import { RunpodProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedRunpodClient } from "./testing/specs.js";

const signal = () => AbortSignal.timeout(10_000);

describe("RunPod disks sized at launch", () => {
  it("offers carry the container disk's sizing; a sized launch makes a pod with that disk, on demand and spot", async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 10 });
    try {
      const { client, check } = checkedRunpodClient(emu);
      const p = new RunpodProvider({ client });
      const offers = (await p.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "allowed" }, signal())).filter((o) => o.available);
      expect(offers.every((o) => o.diskGb === CONTAINER_DISK_GB && o.diskSizing === CONTAINER_DISK_SIZING)).toBe(true);
      expect(CONTAINER_DISK_SIZING).toMatchObject({ usdPerGbMonth: 0.1, includedGb: 0, billedAfterTermination: false });
      expect((470 * CONTAINER_DISK_SIZING.usdPerGbMonth) / HOURS_PER_MONTH).toBeCloseTo(0.0644, 4);
      const onDemand = offers.find((o) => !o.spot)!;
      const spot = offers.find((o) => o.spot)!;
      const a = await p.launch({ intentId: "disk-a", offer: onDemand, sshPublicKey: PUB, diskGb: 470 }, signal());
      const b = await p.launch({ intentId: "disk-b", offer: spot, sshPublicKey: PUB, diskGb: 470 }, signal());
      const c = await p.launch({ intentId: "disk-c", offer: onDemand, sshPublicKey: PUB }, signal());
      expect([a, b, c].map((m) => emu.account.get(m.id)?.disk)).toEqual([470, 470, CONTAINER_DISK_GB]);
      expect(check.violations).toEqual([]);
    } finally {
      await emu.close();
    }
  });

  it("a size over the offer's largest, or on an offer that cannot be sized, is refused before any call", async () => {
    const emu = await startRunpodEmulator({ bootDelayMs: 10 });
    try {
      const { client } = checkedRunpodClient(emu);
      const p = new RunpodProvider({ client });
      const [offer] = (await p.listOffers({ gpus: ["RTX4090-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal())).filter((o) => o.available);
      const before = emu.requests.get("POST /v2/pods") ?? 0;
      await expect(p.launch({ intentId: "big", offer: offer!, sshPublicKey: PUB, diskGb: CONTAINER_DISK_SIZING.maxGb + 1 }, signal())).rejects.toMatchObject({ kind: "invalid", message: /over the most it can be sized to/ });
      const { diskSizing: _, ...fixed } = offer!;
      await expect(p.launch({ intentId: "fixed", offer: fixed, sshPublicKey: PUB, diskGb: 470 }, signal())).rejects.toMatchObject({ kind: "invalid", message: /cannot size its disk/ });
      expect(emu.requests.get("POST /v2/pods") ?? 0).toBe(before);
    } finally {
      await emu.close();
    }
  });
});

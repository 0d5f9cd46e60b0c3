import { describe, expect, it } from "vitest";
import { LocalProvider } from "./provider.js";

const signal = new AbortController().signal;
const make = (price = 0) => new LocalProvider({ machine: { gpu: "cpu", gpuCount: 0, vramGb: 0 }, pricePerHour: price, today: "2026-11-28" });

describe("LocalProvider", () => {
  it("offers this machine at the given price (a CPU-only one only for a request of no GPU)", async () => {
    expect(await make(0.3).listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never" }, signal)).toEqual([]);
    const offers = await make(0.3).listOffers({ gpus: "any", count: 0, minVramGb: 0, spot: "never" }, signal);
    expect(offers).toEqual([
      { provider: "local", instanceType: "this-machine", gpu: "cpu", gpuCount: 0, vramGb: 0, region: "local", pricePerHour: 0.3, spot: false, available: true, priceSource: "live", priceDate: "2026-11-28" },
    ]);
  });

  it("filters a GPU machine that is too small", async () => {
    const p = new LocalProvider({ machine: { gpu: "RTX-3060", gpuCount: 1, vramGb: 12 }, pricePerHour: 0 });
    expect(await p.listOffers({ gpus: "any", count: 1, minVramGb: 24, spot: "never" }, signal)).toEqual([]);
    expect(await p.listOffers({ gpus: "any", count: 2, minVramGb: 8, spot: "never" }, signal)).toEqual([]);
  });

  it("launch registers, terminate is idempotent, unknown ids are terminated", async () => {
    const p = make();
    const m = await p.launch({ intentId: "abc", offer: p.offer() }, signal);
    expect(m).toMatchObject({ id: "local-abc", name: "kiln-abc", state: "running" });
    expect(await p.launch({ intentId: "abc", offer: p.offer() }, signal)).toEqual(m);
    expect((await p.listMachines(signal)).map((x) => x.id)).toEqual(["local-abc"]);
    await p.terminate(m.id, signal);
    await p.terminate(m.id, signal);
    await p.terminate("nope", signal);
    expect((await p.describe(m.id, signal)).state).toBe("terminated");
    expect((await p.describe("nope", signal)).state).toBe("terminated");
    expect(await p.listMachines(signal)).toEqual([]);
  });
});

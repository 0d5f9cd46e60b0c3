// ThunderProvider on the emulator: production-only offers priced from GET /pricing, no spot, the key-comment
// marker, relaunch of an intent already listed, never touching the user's instances, and the watchdog's
// end-of-billing script run for real.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { thunderDescriptor } from "./descriptor.js";
import { startThunderEmulator, type ThunderEmulator } from "./emulator.js";
import { thunderEndBilling } from "./end-billing.js";
import { offersFrom } from "./offers.js";
import { ThunderProvider } from "./provider.js";
import { TEST_PUBLIC_KEY as PUB, newIntent } from "./testing/fixtures.js";
import { checkedThunderClient, type SpecCheck } from "./testing/openapi.js";

const run = promisify(execFile);
const signal = () => AbortSignal.timeout(20_000);
const any = { gpus: "any", count: 1, minVramGb: 0, spot: "never" } as const;
let emu: ThunderEmulator;
let check: SpecCheck;
let p: ThunderProvider;

beforeEach(async () => {
  emu = await startThunderEmulator({ bootDelayMs: 30, terminateDelayMs: 30 });
  const c = checkedThunderClient(emu);
  check = c.check;
  p = new ThunderProvider({ client: c.client, listingLagMs: 200 });
});
afterEach(async () => {
  await emu.close();
  expect(check.violations).toEqual([]);
});

describe("thunder offers", () => {
  it("are production only by default, live-priced, with vCPUs past the first 4 added", async () => {
    const offers = await p.listOffers(any, signal());
    expect(offers.map((o) => [o.instanceType, o.gpu, o.pricePerHour])).toEqual([
      ["a100xl_x1_production", "A100-80GB", 1.47],
      ["h100_x1_production", "H100-80GB", 1.97],
    ]);
    for (const o of offers) expect(o).toMatchObject({ spot: false, priceSource: "live", available: undefined, region: "default", diskGb: 100 });
  });

  it("include prototyping only when asked, under names that say so", async () => {
    const both = new ThunderProvider({ client: p.client, modes: ["prototyping", "production"] });
    const types = (await both.listOffers(any, signal())).map((o) => o.instanceType);
    expect(types).toEqual(["a6000_x1_prototyping", "a100xl_x1_prototyping", "a100xl_x1_production", "h100_x1_prototyping", "h100_x1_production"]);
  });

  it("have no spot rows: a plan preferring spot gets the on-demand offers, none marked spot", async () => {
    const offers = await p.listOffers({ ...any, spot: "prefer" }, signal());
    expect(offers.length).toBeGreaterThan(0);
    expect(offers.filter((o) => o.spot)).toEqual([]);
    expect(thunderDescriptor.catalog.filter((r) => r.spotPricePerHour !== undefined)).toEqual([]);
  });

  it("leave out specs with no price or an unknown GPU, and say so", () => {
    const warned: string[] = [];
    const offers = offersFrom(
      { h100_x1_production: { displayName: "H100", vramGB: 80, gpuCount: 1, mode: "production" }, mi300x_x1_production: { displayName: "MI300X", vramGB: 192, gpuCount: 1, mode: "production" } },
      { h100_x2_production: 4 },
      "2026-12-04",
      { warn: (m) => warned.push(m) },
    );
    expect(offers).toEqual([]);
    expect(warned).toEqual([expect.stringMatching(/h100_x1_production with no price/), expect.stringMatching(/mi300x_x1_production .*a GPU Kiln does not know/)]);
  });

  it("take a total price under the spec's own key before the per-GPU one", () => {
    const [o] = offersFrom({ h100_x2_production: { displayName: "H100", vramGB: 80, gpuCount: 2, mode: "production", vcpuOptions: [4] } }, { h100_x2_production: 3.5, h100_production: 1.89 }, "2026-12-04");
    expect(o?.pricePerHour).toBe(3.5);
  });
});

describe("thunder machines", () => {
  it("launch sends the job's key with the intent as its comment; the listing names the machine by it", async () => {
    const [offer] = await p.listOffers(any, signal());
    const intentId = newIntent();
    const m = await p.launch({ intentId, offer: offer!, sshPublicKey: PUB }, signal());
    expect(emu.inspect()[0]!.publicKeys).toEqual([`${PUB.split(" ").slice(0, 2).join(" ")} kiln-${intentId}`]);
    expect((await p.listMachines(signal())).map((x) => [x.id, x.name, x.intentId])).toEqual([[m.id, `kiln-${intentId}`, intentId]]);
  });

  it("a relaunch of an intent whose machine is listed returns that machine, with no second create", async () => {
    const [offer] = await p.listOffers(any, signal());
    const intentId = newIntent();
    const a = await p.launch({ intentId, offer: offer!, sshPublicKey: PUB }, signal());
    const b = await p.launch({ intentId, offer: offer!, sshPublicKey: PUB }, signal());
    expect(b.id).toBe(a.id);
    expect(emu.account.creates).toBe(1);
  });

  it("never lists or deletes the user's own instances; terminate deletes by the listing's key, idempotently", async () => {
    const mine = emu.account.add({ gpuType: "h100", numGpus: 1, cpuCores: 8, mode: "production", template: "base", diskGb: 100, publicKeys: [PUB.replace(" kiln", " me@laptop")], pricePerHour: 1.97 });
    const [offer] = await p.listOffers(any, signal());
    const m = await p.launch({ intentId: newIntent(), offer: offer!, sshPublicKey: PUB }, signal());
    expect((await p.listMachines(signal())).map((x) => x.id)).toEqual([m.id]);
    await p.terminate(m.id, signal());
    await p.terminate(m.id, signal());
    // An id one character off the user's own (never the same one: a uuid that already ended in "0" made
    // this test terminate the user's machine one run in sixteen).
    await p.terminate(mine.uuid.slice(0, -1) + (mine.uuid.endsWith("0") ? "1" : "0"), signal());
    expect(emu.account.find(mine.key)?.status).not.toBe("DELETING");
    await new Promise((r) => setTimeout(r, 100));
    expect(await p.describe(m.id, signal())).toMatchObject({ state: "terminated", notFound: true });
  });

  it("needs the public key: it is the only place Thunder keeps the marker", async () => {
    const [offer] = await p.listOffers(any, signal());
    await expect(p.launch({ intentId: newIntent(), offer: offer! }, signal())).rejects.toMatchObject({ kind: "invalid" });
  });
});

describe("thunder end of billing (the watchdog's script)", () => {
  it("deletes the machine by uuid through the listing, and succeeds when it is already gone", async () => {
    const [offer] = await p.listOffers(any, signal());
    const m = await p.launch({ intentId: newIntent(), offer: offer!, sshPublicKey: PUB }, signal());
    const dir = mkdtempSync(join(tmpdir(), "kiln-thunder-eb-"));
    try {
      const eb = thunderEndBilling(emu.url, emu.token)(m.id);
      writeFileSync(join(dir, "end-billing.sh"), eb.script);
      for (const f of eb.files) writeFileSync(join(dir, f.name), f.content, { mode: 0o600 });
      chmodSync(join(dir, "end-billing.sh"), 0o700);
      // The emulator answers in this process, so the script runs without blocking it.
      await run("sh", [join(dir, "end-billing.sh"), ...eb.args], { timeout: 20_000 });
      expect(emu.account.find(m.id)?.status ?? "gone").toMatch(/DELETING|gone/);
      await run("sh", [join(dir, "end-billing.sh"), ...eb.args], { timeout: 20_000 });
      await run("sh", [join(dir, "end-billing.sh"), emu.url, "no-such-uuid"], { timeout: 20_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

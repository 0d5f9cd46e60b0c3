// GcpProvider on the emulator: the insert GCE receives (Spot, DELETE, maxRunDuration, per-instance
// ssh-keys, labels, requestId), the cloud-side cap, preemption seen through describe, names and ids.
// Every exchange is checked against the Compute v1 discovery document.
import { afterEach, describe, expect, it } from "vitest";
import type { LaunchRequest, MachineRecord, Offer } from "../provider.js";
import { ProviderError } from "../provider.js";
import { gceNameFor, parseMachineId, requestIdFor } from "./names.js";
import type { GcpProvider } from "./provider.js";
import { type Fixture, gcpFixture, TEST_PUB } from "./testing/fixture.js";

const signal = () => AbortSignal.timeout(30_000);
let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.close();
  expect(fx?.check.violations ?? []).toEqual([]);
  fx = undefined;
});

async function offer(p: GcpProvider, spot: boolean, type = "a2-highgpu-1g"): Promise<Offer> {
  const offers = await p.listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: spot ? "prefer" : "never" }, signal());
  const o = offers.find((x) => x.instanceType === type && x.spot === spot && x.region === "us-central1-a");
  if (!o) throw new Error(`no ${type} offer (spot ${spot})`);
  return o;
}

async function until(p: GcpProvider, id: string, want: (m: MachineRecord) => boolean, ms = 15_000): Promise<MachineRecord> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await p.describe(id, signal());
    if (want(m)) return m;
    if (Date.now() > deadline) throw new Error(`machine ${id} never got there (last: ${m.state} ${m.providerState})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("GcpProvider on the emulator", () => {
  it("launches a Spot VM with SPOT + DELETE, maxRunDuration from the request, the key in its own metadata, and a requestId from the intent", async () => {
    fx = await gcpFixture();
    const p = fx.provider;
    const o = await offer(p, true);
    expect(o).toMatchObject({ spot: true, pricePerHour: 1.47, capPricePerHour: 3.67, priceSource: "catalog" });
    const req: LaunchRequest = { intentId: "abcdef01-0123456789", offer: o, sshPublicKey: TEST_PUB, maxRunSeconds: 5400 };
    const m = await p.launch(req, signal());
    expect(m).toMatchObject({ id: `${fx.emu.project}/us-central1-a/kiln-abcdef01-0123456789`, name: "kiln-abcdef01-0123456789", intentId: "abcdef01-0123456789", instanceType: "a2-highgpu-1g", region: "us-central1-a" });
    const inst = fx.emu.account.instances.get(m.id)!;
    expect(inst.scheduling).toMatchObject({ provisioningModel: "SPOT", instanceTerminationAction: "DELETE", onHostMaintenance: "TERMINATE", automaticRestart: false, maxRunDuration: { seconds: "5400" } });
    expect(inst.metadataItems.find((i) => i.key === "ssh-keys")?.value).toBe(`kiln:${TEST_PUB}`);
    expect(inst.labels).toEqual({ kiln: "1", "kiln-intent": "abcdef01-0123456789" });
    // The requestId GCE saw is the intent's deterministic UUID.
    const [requestId] = [...fx.emu.account.byRequestId.keys()];
    expect(requestId).toBe(requestIdFor("insert", m.id));
    expect(requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const running = await until(p, m.id, (x) => x.state === "running");
    expect(running.ssh).toEqual({ host: "127.0.0.1", port: 22, user: "kiln" });
    expect(running.pricePerHour).toBe(1.47);
  });

  it("an on-demand VM without a deadline gets no termination action; one with a deadline gets DELETE", async () => {
    fx = await gcpFixture();
    const o = await offer(fx.provider, false);
    const a = await fx.provider.launch({ intentId: "abcdef01-00000000aa", offer: o, sshPublicKey: TEST_PUB }, signal());
    expect(fx.emu.account.instances.get(a.id)!.scheduling).toEqual({ provisioningModel: "STANDARD", onHostMaintenance: "TERMINATE", automaticRestart: false });
    const b = await fx.provider.launch({ intentId: "abcdef01-00000000bb", offer: o, sshPublicKey: TEST_PUB, maxRunSeconds: 3 }, signal());
    // Under GCE's 30 s floor: raised to it.
    expect(fx.emu.account.instances.get(b.id)!.scheduling).toMatchObject({ provisioningModel: "STANDARD", instanceTerminationAction: "DELETE", maxRunDuration: { seconds: "30" } });
  });

  it("Google deletes the VM at maxRunDuration with no Kiln call (the cloud-side cap); billing ends there", async () => {
    fx = await gcpFixture({ provider: { minRunSeconds: 1 } });
    const o = await offer(fx.provider, true);
    const m = await fx.provider.launch({ intentId: "abcdef01-00000000cc", offer: o, sshPublicKey: TEST_PUB, maxRunSeconds: 1 }, signal());
    await until(fx.provider, m.id, (x) => x.state === "running");
    const gone = await until(fx.provider, m.id, (x) => x.state === "terminated");
    expect(gone.notFound).toBe(true);
    // Not a preemption: the deadline Kiln set.
    expect(gone.reclaimed).toBeUndefined();
    expect(fx.emu.audit().map((e) => e.kind)).toContain("max-run-duration");
    const [bill] = fx.emu.billed();
    expect(bill!.status).toBe("terminated");
    // Billed from creation to the deletion: boot (50 ms) + 1 s + the delete (50 ms), not longer.
    expect(bill!.billedSeconds).toBeGreaterThanOrEqual(1);
    expect(bill!.billedSeconds).toBeLessThan(5);
    expect(fx.emu.live()).toEqual([]);
  });

  it("a preempted Spot VM is reclaimed in describe while it stops and after it is gone", async () => {
    fx = await gcpFixture({ emulator: { deleteDelayMs: 400 } });
    const o = await offer(fx.provider, true);
    const m = await fx.provider.launch({ intentId: "abcdef01-00000000dd", offer: o, sshPublicKey: TEST_PUB }, signal());
    await until(fx.provider, m.id, (x) => x.state === "running");
    fx.emu.preempt(m.id);
    const stopping = await fx.provider.describe(m.id, signal());
    expect(stopping).toMatchObject({ state: "stopping", providerState: "STOPPING", reclaimed: { reason: expect.stringContaining("compute.instances.preempted") } });
    const gone = await until(fx.provider, m.id, (x) => x.state === "terminated");
    expect(gone.reclaimed?.reason).toContain("preempted");
    expect(gone.reclaimed?.at).toMatch(/^\d{4}-/);
    // Terminating it again is fine (idempotent), and a standard VM cannot be preempted.
    await fx.provider.terminate(m.id, signal());
    const od = await fx.provider.launch({ intentId: "abcdef01-00000000ee", offer: await offer(fx.provider, false), sshPublicKey: TEST_PUB }, signal());
    expect(() => fx!.emu.preempt(od.id)).toThrow(/not a Spot VM/);
  });

  it("listMachines finds Kiln's VMs in every zone, with ids carrying project and zone", async () => {
    fx = await gcpFixture();
    const a = await fx.provider.launch({ intentId: "abcdef01-0000000001", offer: await offer(fx.provider, false), sshPublicKey: TEST_PUB }, signal());
    const other = (await fx.provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "never", regions: ["us-east4"] }, signal()))[0]!;
    expect(other.region).toBe("us-east4-a");
    const b = await fx.provider.launch({ intentId: "abcdef01-0000000002", offer: other, sshPublicKey: TEST_PUB }, signal());
    const ids = (await fx.provider.listMachines(signal())).map((x) => x.id).sort();
    expect(ids).toEqual([a.id, b.id].sort());
    expect(parseMachineId(b.id)).toEqual({ project: fx.emu.project, zone: "us-east4-a", name: "kiln-abcdef01-0000000002" });
  });

  it("a3-highgpu-1g is offered as Spot only; offers filter by region or zone", async () => {
    fx = await gcpFixture();
    const h100 = await fx.provider.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "allowed" }, signal());
    expect(h100.length).toBeGreaterThan(0);
    expect(h100.every((x) => x.spot && x.instanceType === "a3-highgpu-1g")).toBe(true);
    expect(await fx.provider.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "never" }, signal())).toEqual([]);
    const zoned = await fx.provider.listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never", regions: ["us-central1-b"] }, signal());
    expect(zoned.map((x) => `${x.instanceType}@${x.region}`)).toEqual(["g2-standard-4@us-central1-b"]);
  });
});

describe("GCE names and ids", () => {
  it("kiln-<intent> fits GCE's rule; a name that does not is refused, not rewritten", () => {
    expect(gceNameFor("abcdef01-0123456789")).toBe("kiln-abcdef01-0123456789");
    for (const bad of ["ABCDEF01-01", "x".repeat(60), "abc_def", "abc-"]) {
      expect(() => gceNameFor(bad)).toThrow(ProviderError);
    }
  });

  it("the requestId is a stable UUID per request and thing", () => {
    expect(requestIdFor("insert", "p/z/kiln-a")).toBe(requestIdFor("insert", "p/z/kiln-a"));
    expect(requestIdFor("insert", "p/z/kiln-a")).not.toBe(requestIdFor("delete", "p/z/kiln-a"));
    expect(requestIdFor("insert", "p/z/kiln-a")).not.toBe(requestIdFor("insert", "p/z/kiln-b"));
  });

  it("a malformed machine id is a Kiln bug (invalid), never guessed", async () => {
    expect(() => parseMachineId("just-a-name")).toThrow(/project\/zone\/name/);
    expect(() => parseMachineId("p/Zone/x")).toThrow(ProviderError);
  });
});

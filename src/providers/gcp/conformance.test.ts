// Client and emulator against Google's Compute v1 discovery document: a full launch → describe → list →
// preempt → delete cycle (plus failed operations and errors) with every request and reply checked, the
// methods Kiln uses all exercised, and the checker itself shown to catch what it should.
import { describe, expect, it } from "vitest";
import { renderInstance, renderOperation } from "./emulator/render.js";
import { DiscoveryDoc, discoveryChecker } from "./testing/discovery.js";
import { gcpFixture, TEST_PUB } from "./testing/fixture.js";

const signal = () => AbortSignal.timeout(30_000);
const doc = DiscoveryDoc.load();

describe("GCE traffic against the Compute v1 discovery document", () => {
  it("a whole life cycle, failed operations and error replies: zero violations, every method Kiln uses exercised", async () => {
    const fx = await gcpFixture({ emulator: { deleteDelayMs: 200 } });
    try {
      const p = fx.provider;
      const [spot] = (await p.listOffers({ gpus: ["A100-80GB"], count: 1, minVramGb: 80, spot: "prefer", regions: ["us-central1-a"] }, signal())).filter((o) => o.spot);
      const m = await p.launch({ intentId: "abcdef01-0000000c01", offer: spot!, sshPublicKey: TEST_PUB, maxRunSeconds: 7200 }, signal());
      for (let i = 0; i < 200 && (await p.describe(m.id, signal())).state !== "running"; i++) await new Promise((r) => setTimeout(r, 20));
      expect((await p.listMachines(signal())).map((x) => x.id)).toEqual([m.id]);
      fx.emu.preempt(m.id);
      expect((await p.describe(m.id, signal())).reclaimed).toBeDefined();
      fx.emu.inject({ kind: "quota", match: { method: "POST" }, times: 1 });
      await expect(p.launch({ intentId: "abcdef01-0000000c02", offer: spot!, sshPublicKey: TEST_PUB }, signal())).rejects.toMatchObject({ kind: "quota" });
      const od = (await p.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal()))[0]!;
      const n = await p.launch({ intentId: "abcdef01-0000000c03", offer: od, sshPublicKey: TEST_PUB }, signal());
      await p.terminate(n.id, signal());
      await p.terminate(n.id, signal());
      await expect(fx.providerWith({ token: "ya29.wrong" }).listMachines(signal())).rejects.toMatchObject({ kind: "auth" });
      fx.emu.inject({ kind: "rate-limit", match: { method: "GET" }, delayMs: 100, times: 1 });
      fx.emu.inject({ kind: "error-5xx", match: { method: "GET" }, times: 1 });
      await p.describe(`${fx.emu.project}/us-central1-a/kiln-abcdef01-0000000c09`, signal());
    } finally {
      await fx.close();
    }
    expect(fx.check.violations).toEqual([]);
    expect([...fx.check.exercised].sort()).toEqual(["compute.instances.aggregatedList", "compute.instances.delete", "compute.instances.get", "compute.instances.insert", "compute.zoneOperations.list", "compute.zoneOperations.wait"]);
  });

  it("the emulator renders every state and operation outcome as the document's Instance and Operation", () => {
    const base = { project: "p", zone: "us-central1-a", name: "kiln-x", id: "123", machineType: "g2-standard-4", creationTimestamp: new Date().toISOString(), labels: { kiln: "1" }, metadataItems: [{ key: "ssh-keys", value: `kiln:${TEST_PUB}` }], metadataFingerprint: "abc=", scheduling: { provisioningModel: "SPOT", instanceTerminationAction: "DELETE", maxRunDuration: { seconds: "60" } }, spot: true, natIP: "127.0.0.1", networkIP: "10.128.0.2", diskSizeGb: "200" };
    const get = doc.match("GET", "/compute/v1/projects/p/zones/us-central1-a/instances/kiln-x")!.method;
    for (const status of ["PROVISIONING", "STAGING", "RUNNING", "STOPPING", "TERMINATED"]) expect(doc.checkResponse(get, 200, renderInstance({ ...base, status }))).toEqual([]);
    const wait = doc.match("POST", "/compute/v1/projects/p/zones/us-central1-a/operations/op-1/wait")!.method;
    const op = { id: "1", name: "op-1", project: "p", zone: "us-central1-a", operationType: "insert", targetName: "kiln-x", targetId: "123", status: "DONE" as const, insertTime: "t", startTime: "t", endTime: "t" };
    expect(doc.checkResponse(wait, 200, renderOperation(op))).toEqual([]);
    expect(doc.checkResponse(wait, 200, renderOperation({ ...op, error: { code: "QUOTA_EXCEEDED", message: "m", quotaInfo: { metricName: "x", limitName: "y", limit: 0, dimensions: { region: "us-central1" } } }, httpErrorStatusCode: 403, httpErrorMessage: "FORBIDDEN" }))).toEqual([]);
  });

  it("the checker catches an unknown path, an unknown query parameter, a bad body and a bad reply", () => {
    const check = discoveryChecker(doc);
    const req = (method: string, path: string, query = "", body?: unknown) => ({ method, path, query: new URLSearchParams(query), headers: {}, body, rawBody: "" });
    check.onExchange(req("GET", "/compute/v1/projects/p/zones/z/instancez"), { status: 200, body: {} });
    check.onExchange(req("GET", "/compute/v1/projects/p/zones/z/instances", "colour=red"), { status: 200, body: { items: [] } });
    check.onExchange(req("POST", "/compute/v1/projects/p/zones/z/instances", "", { name: "kiln-x", scheduling: { provisioningModel: "CHEAP" } }), { status: 200, body: { status: "DONE" } });
    check.onExchange(req("GET", "/compute/v1/projects/p/zones/z/instances/kiln-x"), { status: 200, body: { name: "kiln-x", id: 5 } });
    check.onExchange(req("GET", "/compute/v1/projects/p/zones/z/instances/kiln-x"), { status: 404, body: { message: "nope" } });
    expect(check.violations).toEqual([
      expect.stringContaining("no method in the discovery document"),
      expect.stringContaining("unknown query parameter colour"),
      expect.stringMatching(/compute\.instances\.insert: request body: .*provisioningModel.*allowed values/),
      expect.stringMatching(/compute\.instances\.get: 200 response: .*id/),
      expect.stringContaining("not Google's envelope"),
    ]);
  });
});

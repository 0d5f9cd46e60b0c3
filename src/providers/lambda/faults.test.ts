// Wire-level faults from the real emulator: lost launch responses, hangs, slow answers, 5xx storms and
// Lambda's rate limits, all through the real client (spec-validated where a response exists).
import { afterEach, describe, expect, it } from "vitest";
import { emulatorConfigSchema } from "./emulator.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { checkedLambdaClient } from "./testing/openapi.js";
import { machineNameFor } from "../provider.js";
import { type LambdaEmulator, startLambdaEmulator } from "./emulator.js";
import { isMaybeLaunched } from "./errors.js";
import { LambdaProvider } from "./provider.js";

const signal = new AbortController().signal;
let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function setup(opts: Parameters<typeof startLambdaEmulator>[0] = {}, clientOpts: Parameters<typeof checkedLambdaClient>[1] = {}) {
  emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 20, ...opts });
  const { client, check } = checkedLambdaClient(emu, clientOpts);
  await client.addSshKey("kiln", PUB, signal);
  const provider = new LambdaProvider({ client, sshKeyName: "kiln" });
  const [offer] = await provider.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" }, signal);
  return { emu, client, check, provider, offer: offer! };
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("Lambda faults", () => {
  it("a lost launch response leaves exactly one instance, found by its name, and is never retried", async () => {
    const { emu, provider, offer } = await setup();
    emu.inject({ kind: "lost-response", match: { method: "POST", path: "/instance-operations/launch" }, times: 1 });
    const e = await caught(provider.launch({ intentId: "lost1", offer }, signal));
    expect(isMaybeLaunched(e)).toBe(true);
    expect(emu.requests.filter((r) => r.path === "/instance-operations/launch")).toEqual([{ method: "POST", path: "/instance-operations/launch", status: "lost" }]);
    const found = (await provider.listMachines(signal)).filter((m) => m.name === machineNameFor("lost1"));
    expect(found).toHaveLength(1);
    expect(emu.inspect()).toHaveLength(1);
    await provider.terminate(found[0]!.id, signal);
  });

  it("a hanging request times out and is retried; a hanging launch is reported, not retried", async () => {
    // 1 s: long enough that no honest loopback answer misses it on a loaded 2-core machine.
    const { emu, client, provider, offer } = await setup({}, { requestTimeoutMs: 1_000 });
    emu.inject({ kind: "hang", match: { path: "/instances" }, times: 1 });
    expect(await client.listInstances(signal)).toEqual([]);
    expect(emu.requests.filter((r) => r.path === "/instances").map((r) => r.status)).toEqual(["hang", 200]);

    emu.inject({ kind: "hang", match: { path: "/instance-operations/launch" }, times: 1 });
    const e = await caught(provider.launch({ intentId: "hang1", offer }, signal));
    expect(isMaybeLaunched(e)).toBe(true);
    expect(emu.inspect()).toHaveLength(0);
  });

  it("slow answers arrive; 5xx bursts are retried through", async () => {
    const { emu, client, check } = await setup();
    emu.inject({ kind: "error-5xx", match: { path: "/instance-types" }, times: 2 });
    emu.inject({ kind: "slow", delayMs: 80, match: { path: "/instance-types" }, times: 1 });
    const started = Date.now();
    expect(Object.keys(await client.listInstanceTypes(signal))).toContain("gpu_1x_a100");
    expect(Date.now() - started).toBeGreaterThanOrEqual(80);
    expect(emu.requests.filter((r) => r.path === "/instance-types").map((r) => r.status)).toEqual([200, 503, 503, 200]);
    expect(check.violations).toEqual([]);
  });

  it("with 20% of calls failing at random, reads succeed and launches never duplicate", async () => {
    const { emu, provider, offer, check } = await setup({ seed: 7, quota: { maxInstances: 50 } });
    emu.setCapacity("gpu_1x_a100", offer.region, 50);
    for (const kind of ["error-5xx", "lost-response"] as const) emu.inject({ kind, probability: 0.1 });
    let uncertain = 0;
    for (let n = 0; n < 15; n++) {
      const intentId = `r${n}`;
      try {
        await provider.launch({ intentId, offer }, signal);
      } catch (e) {
        if (!isMaybeLaunched(e)) throw e;
        uncertain++;
      }
    }
    const machines = await provider.listMachines(signal);
    const perIntent = new Map<string, number>();
    for (const m of machines) perIntent.set(m.intentId!, (perIntent.get(m.intentId!) ?? 0) + 1);
    expect([...perIntent.values()].every((c) => c === 1)).toBe(true);
    expect(emu.inspect().length).toBe(machines.length);
    expect(uncertain).toBeGreaterThan(0);
    expect(check.violations).toEqual([]);
  });

  it("Lambda's rate limits answer 429 with Retry-After, which the client waits out", async () => {
    // A slow refill (2/s), so a loaded machine cannot refill the bucket between calls by accident.
    const { client, emu } = await setup({ rateLimit: { perSecond: 2, burst: 2, launchIntervalMs: 12_000, launchBurst: 5 } });
    // Setup's two calls emptied the bucket; three more at once must meet 429s and wait them out.
    const results = await Promise.all([client.listInstances(signal), client.listInstances(signal), client.listInstances(signal)]);
    expect(results).toEqual([[], [], []]);
    const statuses = emu.requests.map((r) => r.status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200).length).toBe(5);
  });
});

describe("Lambda retries of non-idempotent calls", () => {
  it("a lost answer to adding the SSH key or creating a volume still ends with exactly one of each", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0 });
    const { client, check } = checkedLambdaClient(emu);
    const provider = new LambdaProvider({ client, sshKeyName: "kiln" });
    emu.inject({ kind: "lost-response", match: { method: "POST", path: "/ssh-keys" }, times: 1 });
    emu.inject({ kind: "lost-response", match: { method: "POST", path: "/filesystems" }, times: 1 });
    expect(await client.ensureSshKey("kiln", PUB, signal)).toMatchObject({ name: "kiln" });
    expect(await provider.createVolume("ckpt", "us-west-1", signal)).toMatchObject({ name: "ckpt", region: "us-west-1" });
    expect((await client.listSshKeys(signal)).map((k) => k.name)).toEqual(["kiln"]);
    expect((await provider.listVolumes(signal)).map((v) => v.name)).toEqual(["ckpt"]);
    expect(check.violations).toEqual([]);
  });
});

describe("Lambda launch-outcome faults", () => {
  // A clock the test moves, so "for N ms" is exact on a loaded machine.
  let t = 1_000_000;
  const now = () => t;
  async function launched(fault: Parameters<LambdaEmulator["inject"]>[0]) {
    t = 1_000_000;
    emu = await startLambdaEmulator({ bootDelayMs: 0, now });
    const { client, check } = checkedLambdaClient(emu);
    await client.addSshKey("kiln", PUB, signal);
    // Consumed by no other request: a launch fault waits for the launch.
    emu.inject(fault);
    expect(Object.keys(await client.listInstanceTypes(signal))).toContain("gpu_1x_a10");
    const ids = await client.launchInstance({ region_name: "us-west-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["kiln"], name: "kiln-lagged" }, signal);
    const [made] = emu.inspect();
    return { emu, client, check, ids, made: made! };
  }
  const listed = async (client: Awaited<ReturnType<typeof launched>>["client"]) => (await client.listInstances(signal)).map((i) => i.id);
  const described = (client: Awaited<ReturnType<typeof launched>>["client"], id: string) =>
    client.getInstance(id, signal).then(
      (i) => i.status,
      (e: unknown) => (e as { status?: number }).status,
    );

  it("listing-lag in reads: the launch answers its id, but the next N reads of it miss it, while it bills", async () => {
    const { emu, client, check, ids, made } = await launched({ kind: "listing-lag", requests: 3, times: 1 });
    expect(ids).toEqual([made.id]);
    expect(await listed(client)).toEqual([]);
    expect(await described(client, made.id)).toBe(404);
    expect(await listed(client)).toEqual([]);
    // Three reads have missed it; the fourth sees it.
    expect(await listed(client)).toEqual([made.id]);
    expect(await described(client, made.id)).toBe("active");
    t += 60_000;
    expect(emu.inspect()[0]).toMatchObject({ id: made.id, billedSeconds: 60 });
    expect(check.violations).toEqual([]);
  });

  it("listing-lag in time: reads miss the instance until delayMs after the launch", async () => {
    const { emu, client, check, ids, made } = await launched({ kind: "listing-lag", delayMs: 5_000, times: 1 });
    expect(ids).toEqual([made.id]);
    t += 4_999;
    expect(await listed(client)).toEqual([]);
    expect(await described(client, made.id)).toBe(404);
    expect(emu.inspect()[0]?.billedSeconds).toBeCloseTo(4.999);
    t += 1;
    expect(await listed(client)).toEqual([made.id]);
    expect(await described(client, made.id)).toBe("active");
    expect(check.violations).toEqual([]);
  });

  it("listing-lag hides the instance from reads only: terminate by id finds it during the lag", async () => {
    const { emu, client, check, ids, made } = await launched({ kind: "listing-lag", delayMs: 5_000, times: 1 });
    expect(await client.terminateInstances(ids, signal)).toMatchObject([{ id: made.id, status: "terminating" }]);
    t += 5_000;
    expect(emu.inspect()[0]).toMatchObject({ status: "terminated", billedSeconds: 1 });
    expect(check.violations).toEqual([]);
  });

  it("no-id: the launch answers 200 with no instance id, yet the instance exists, is listed by its name, and bills", async () => {
    const { emu, client, check, ids, made } = await launched({ kind: "no-id", times: 1 });
    expect(ids).toEqual([]);
    expect(made).toMatchObject({ name: "kiln-lagged", status: "active" });
    expect((await client.listInstances(signal)).map((i) => [i.id, i.name])).toEqual([[made.id, "kiln-lagged"]]);
    t += 3_600_000;
    expect(emu.inspect()[0]).toMatchObject({ billedSeconds: 3600, costUsd: 0.75 });
    // The next launch is unaffected (times: 1).
    expect(await client.launchInstance({ region_name: "us-west-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["kiln"] }, signal)).toHaveLength(1);
    expect(emu.requests.filter((r) => r.path === "/instance-operations/launch").map((r) => r.status)).toEqual([200, 200]);
    expect(check.violations).toEqual([]);
  });

  it("both are configurable like every other fault, from `kiln emulate lambda --config`", () => {
    const cfg = emulatorConfigSchema.parse({ faults: [{ kind: "listing-lag", requests: 2, probability: 0.5 }, { kind: "no-id", times: 1 }] });
    expect(cfg.faults).toEqual([
      { kind: "listing-lag", requests: 2, probability: 0.5 },
      { kind: "no-id", times: 1 },
    ]);
    expect(() => emulatorConfigSchema.parse({ faults: [{ kind: "listing-lag", requests: -1 }] })).toThrow();
  });
});

/**
 * The provider contract suite: the behaviours of ./provider.ts's prose contract, as vitest tests that
 * every provider runs against itself (local, ssh, lambda on its emulator, …). What a provider cannot
 * do is data — a written skip `{reason, tests}` — never a missing test. After hono's router
 * `common.case.test.ts` and drizzle's shared sqlite suite.
 *
 * @example
 *   // src/providers/lambda/contract.test.ts
 *   runProviderContract("lambda (emulator)", async () => ({ provider, gpuRequest, close }), {
 *     skips: [{ reason: "Lambda has no machines it did not launch in the emulator", tests: ["listMachines returns only Kiln's machines"] }],
 *   });
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type GpuRequest, type LaunchRequest, type MachineRecord, type MachineState, type Offer, type Provider, ProviderError } from "./provider.js";

export const CONTRACT_TESTS = [
  "listOffers returns well-formed offers",
  "listOffers returns an empty list when nothing fits",
  "launch returns fast with the kiln- name",
  "describe maps the state and reaches running",
  "listMachines returns only Kiln's machines",
  "terminate is idempotent",
  "describe of an unknown id is terminated",
  "errors are ProviderErrors with a kind",
  "listOffers honours gpus, count, regions and maxPricePerHour",
  "an aborted call is not carried out",
  "a second launch of the same intent is the same machine",
  "a lagging listing shows a new machine within the lag",
] as const;
export type ContractTest = (typeof CONTRACT_TESTS)[number];

export interface ContractSkip {
  reason: string;
  tests: readonly ContractTest[];
}

export interface ContractFixture {
  provider: Provider;
  /** A request for which the provider has at least one available offer. */
  gpuRequest: GpuRequest;
  /** The launch request for an offer; default `{ intentId, offer }`. */
  launchRequest?(offer: Offer, intentId: string): LaunchRequest;
  /** Make a machine Kiln did not launch (no `kiln-` name), so listMachines can be seen to skip it. */
  createForeignMachine?(): Promise<string>;
  /** The same provider with something broken (a wrong key, an unreachable host). */
  brokenProvider?(): Provider;
  /** An id the provider never issued; default a random 32-hex string. */
  unknownId?: string;
  /** Make the provider's listing lag behind the next launch by `ms` (an emulator fault); absent: it cannot lag. */
  lagNextLaunch?(ms: number): void;
  /** Deadline for reaching running/terminated; default 10 s. */
  settleTimeoutMs?: number;
  /** Tear down; may also assert (e.g. no spec violations), which fails the test. */
  close(): Promise<void>;
}

export interface ContractOptions {
  skips?: readonly ContractSkip[];
  /** launch must return within this; default 5 s ("returns fast": it does not wait for boot). */
  launchFastMs?: number;
}

const STATES: readonly MachineState[] = ["pending", "running", "stopping", "stopped", "terminating", "terminated", "unhealthy", "unknown"];
const signal = () => AbortSignal.timeout(60_000);
const newIntent = () => `contract-${randomBytes(6).toString("hex")}`;

async function waitForState(p: Provider, id: string, want: (s: MachineState) => boolean, timeoutMs: number): Promise<MachineRecord> {
  const deadline = Date.now() + timeoutMs;
  let last: MachineRecord | undefined;
  while (Date.now() < deadline) {
    last = await p.describe(id, signal());
    if (want(last.state)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`machine ${id} did not reach the wanted state within ${timeoutMs} ms (last: ${last?.state ?? "none"})`);
}

export function runProviderContract(name: string, factory: () => Promise<ContractFixture>, opts: ContractOptions = {}): void {
  const skipped = new Map<ContractTest, string>();
  for (const s of opts.skips ?? []) for (const t of s.tests) skipped.set(t, s.reason);
  const launchFastMs = opts.launchFastMs ?? 5_000;

  describe(`provider contract: ${name}`, () => {
    let fx: ContractFixture;
    beforeEach(async () => {
      fx = await factory();
    });
    afterEach(async () => {
      await fx.close();
    });

    const test = (t: ContractTest, body: () => Promise<void>) => {
      const reason = skipped.get(t);
      if (reason !== undefined) it.skip(`${t} (skipped: ${reason})`, body);
      else it(t, body);
    };
    const offer = async () => {
      const offers = await fx.provider.listOffers(fx.gpuRequest, signal());
      const o = offers.find((x) => x.available !== false);
      if (!o) throw new Error(`fixture's gpuRequest found no available offer (${offers.length} offers)`);
      return o;
    };
    const launch = async (intentId = newIntent()) => {
      const o = await offer();
      return fx.provider.launch(fx.launchRequest?.(o, intentId) ?? { intentId, offer: o }, signal());
    };

    test("listOffers returns well-formed offers", async () => {
      const offers = await fx.provider.listOffers(fx.gpuRequest, signal());
      expect(offers.length).toBeGreaterThan(0);
      for (const o of offers) {
        expect(o.provider).toBe(fx.provider.name);
        expect(o.pricePerHour).toBeGreaterThanOrEqual(0);
        expect(o.gpuCount).toBe(fx.gpuRequest.count);
        expect(o.vramGb).toBeGreaterThanOrEqual(fx.gpuRequest.minVramGb);
        expect(["live", "catalog"]).toContain(o.priceSource);
        expect(o.priceDate).toMatch(/^\d{4}-\d{2}-\d{2}/);
        if (fx.gpuRequest.gpus !== "any") expect(fx.gpuRequest.gpus).toContain(o.gpu);
      }
    });

    test("listOffers returns an empty list when nothing fits", async () => {
      expect(await fx.provider.listOffers({ ...fx.gpuRequest, minVramGb: 1_000_000 }, signal())).toEqual([]);
    });

    test("launch returns fast with the kiln- name", async () => {
      const intentId = newIntent();
      const started = Date.now();
      const m = await launch(intentId);
      expect(Date.now() - started).toBeLessThan(launchFastMs);
      expect(m).toMatchObject({ provider: fx.provider.name, name: `kiln-${intentId}`, intentId });
      expect(["pending", "running"]).toContain(m.state);
      await fx.provider.terminate(m.id, signal());
    });

    test("describe maps the state and reaches running", async () => {
      const m = await launch();
      const first = await fx.provider.describe(m.id, signal());
      expect(STATES).toContain(first.state);
      expect(first.providerState).not.toBe("");
      const running = await waitForState(fx.provider, m.id, (s) => s === "running", fx.settleTimeoutMs ?? 10_000);
      expect(running.intentId).toBe(m.intentId);
      await fx.provider.terminate(m.id, signal());
    });

    test("listMachines returns only Kiln's machines", async () => {
      const foreign = await fx.createForeignMachine?.();
      const m = await launch();
      const listed = await fx.provider.listMachines(signal());
      expect(listed.map((x) => x.id)).toContain(m.id);
      for (const x of listed) expect(x.name.startsWith("kiln-")).toBe(true);
      if (foreign !== undefined) expect(listed.map((x) => x.id)).not.toContain(foreign);
      await fx.provider.terminate(m.id, signal());
    });

    test("terminate is idempotent", async () => {
      const m = await launch();
      await fx.provider.terminate(m.id, signal());
      await fx.provider.terminate(m.id, signal());
      await waitForState(fx.provider, m.id, (s) => s === "terminated", fx.settleTimeoutMs ?? 10_000);
      await fx.provider.terminate(m.id, signal());
      await fx.provider.terminate(fx.unknownId ?? randomBytes(16).toString("hex"), signal());
    });

    test("describe of an unknown id is terminated", async () => {
      const d = await fx.provider.describe(fx.unknownId ?? randomBytes(16).toString("hex"), signal());
      expect(d.state).toBe("terminated");
    });

    test("listOffers honours gpus, count, regions and maxPricePerHour", async () => {
      const all = await fx.provider.listOffers({ ...fx.gpuRequest, gpus: "any" }, signal());
      expect(all.length).toBeGreaterThan(0);
      for (const o of all) expect(o.gpuCount).toBe(fx.gpuRequest.count);
      const gpu = all[0]!.gpu;
      for (const o of await fx.provider.listOffers({ ...fx.gpuRequest, gpus: [gpu], minVramGb: 1 }, signal())) expect(o.gpu).toBe(gpu);
      // More GPUs than any machine has: nothing fits (never a smaller machine, never a CPU-only one).
      expect(await fx.provider.listOffers({ ...fx.gpuRequest, gpus: "any", count: 1_000 }, signal())).toEqual([]);
      const cheapest = Math.min(...all.map((o) => o.pricePerHour));
      const capped = await fx.provider.listOffers({ ...fx.gpuRequest, gpus: "any", maxPricePerHour: cheapest }, signal());
      expect(capped.length).toBeGreaterThan(0);
      for (const o of capped) expect(o.pricePerHour).toBeLessThanOrEqual(cheapest);
      if (cheapest > 0) expect(await fx.provider.listOffers({ ...fx.gpuRequest, gpus: "any", maxPricePerHour: cheapest / 2 }, signal())).toEqual([]);
      expect(await fx.provider.listOffers({ ...fx.gpuRequest, gpus: "any", regions: ["no-such-region-1"] }, signal())).toEqual([]);
    });

    test("an aborted call is not carried out", async () => {
      const ac = new AbortController();
      ac.abort();
      const o = await offer();
      const before = (await fx.provider.listMachines(signal())).length;
      await expect(fx.provider.launch(fx.launchRequest?.(o, newIntent()) ?? { intentId: newIntent(), offer: o }, ac.signal)).rejects.toBeDefined();
      await expect(fx.provider.listOffers(fx.gpuRequest, ac.signal)).rejects.toBeDefined();
      expect((await fx.provider.listMachines(signal())).length).toBe(before);
    });

    test("a second launch of the same intent is the same machine", async () => {
      const intentId = newIntent();
      const a = await launch(intentId);
      const b = await launch(intentId);
      expect(b.id).toBe(a.id);
      expect((await fx.provider.listMachines(signal())).filter((m) => m.intentId === intentId)).toHaveLength(1);
      await fx.provider.terminate(a.id, signal());
    });

    test("a lagging listing shows a new machine within the lag", async () => {
      if (!fx.lagNextLaunch) throw new Error("fixture has no lagNextLaunch(); skip this test with a written reason instead");
      fx.lagNextLaunch(500);
      const m = await launch();
      // Right after the launch the listing may not have it, and describe may not know it (notFound) ...
      const early = await fx.provider.describe(m.id, signal());
      if (early.state === "terminated") expect(early.notFound).toBe(true);
      // ... but within the lag it is there, by name.
      await new Promise((r) => setTimeout(r, 600));
      expect((await fx.provider.listMachines(signal())).map((x) => x.name)).toContain(m.name);
      await fx.provider.terminate(m.id, signal());
    });

    test("errors are ProviderErrors with a kind", async () => {
      const broken = fx.brokenProvider?.();
      if (!broken) throw new Error("fixture has no brokenProvider(); skip this test with a written reason instead");
      const e = await broken.listOffers(fx.gpuRequest, signal()).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ProviderError);
      expect((e as ProviderError).provider).toBe(fx.provider.name);
      expect(["capacity", "quota", "billing", "auth", "rate-limited", "transient", "invalid", "fatal"]).toContain((e as ProviderError).kind);
    });
  });
}

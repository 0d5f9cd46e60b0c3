// Each fault the Azure emulator can inject gives the right ProviderError kind, retry or outcome-unknown
// handling, through the real SDKs; a failed launch leaves nothing behind; a lost launch answer behind a
// lagging listing is resolved by the lifecycle's lookup by intent, with no second VM; a Spot eviction is
// reported as a reclaim; and every Microsoft.Compute exchange still conforms to the Swagger.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { findByIntent, launchWithFailover } from "../../core/lifecycle/launch.js";
import { Ledger } from "../../store/index.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { type Offer, ProviderError, isMaybeLaunched } from "../provider.js";
import { staticToken } from "./auth.js";
import { AzureClient } from "./client.js";
import { type AzureEmulator, startAzureEmulator } from "./emulator.js";
import { emulatedProvider } from "./emulated.js";
import { QUOTAS_URL } from "./errors.js";
import { AzureProvider } from "./provider.js";
import { TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { swaggerViolations } from "./testing/swagger.js";

const signal = () => AbortSignal.timeout(30_000);
let emu: AzureEmulator;
let n = 0;
const intent = () => `f00dfeed-${(++n).toString(16).padStart(4, "0")}${Date.now().toString(16)}`;

beforeEach(async () => {
  emu = await startAzureEmulator({ machines: new SshdMachines(), bootDelayMs: 20 });
});
afterEach(async () => {
  await emu.close();
  expect(await swaggerViolations(emu.exchanges)).toEqual([]);
});

const provider = (maxRetries = 0) => emulatedProvider(emu, { maxRetries, sshPortOf: (id) => emu.sshEndpoint(id)?.port });
const offer = async (p: AzureProvider, spot = false): Promise<Offer> => {
  const offers = await p.listOffers({ gpus: ["A100-80GB"], count: 1, minVramGb: 80, spot: spot ? "allowed" : "never" }, signal());
  return offers.find((o) => o.spot === spot && o.region === "eastus")!;
};
const launchError = async (p: AzureProvider, spot = false) => {
  const o = await offer(p, spot);
  return p.launch({ intentId: intent(), offer: o, sshPublicKey: TEST_PUBLIC_KEY }, signal()).then(
    () => undefined,
    (e: unknown) => e,
  );
};
const nothingLeft = () => {
  expect(emu.live()).toEqual([]);
  expect([...emu.account.groups.keys()]).toEqual([]);
};

describe("launch faults", () => {
  it("SkuNotAvailable is capacity for that size, and the job's group is deleted", async () => {
    emu.inject({ kind: "capacity", match: { path: "VirtualMachines_CreateOrUpdate" }, times: 1 });
    const e = (await launchError(provider())) as ProviderError;
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ provider: "azure", kind: "capacity", code: "SkuNotAvailable", scope: "instance-type", status: 409 });
    nothingLeft();
  });

  it.each(["allocation-failed", "zonal-allocation-failed"])("%s inside the operation is capacity, and the Failed VM it left is deleted and confirmed", async (kind) => {
    emu.inject({ kind, match: { path: "VirtualMachines_CreateOrUpdate" }, times: 1 });
    const e = (await launchError(provider())) as ProviderError;
    expect(e).toMatchObject({ kind: "capacity", code: kind === "allocation-failed" ? "AllocationFailed" : "ZonalAllocationFailed" });
    expect(e.message).toMatch(/^Azure create the VM in eastus: (Zonal)?AllocationFailed: Allocation failed/);
    // The VM existed (Failed) until launch deleted its group: it never billed.
    expect(emu.billed()).toEqual([]);
    nothingLeft();
  });

  it("a quota error is quota, names the portal's quotas page and blocks the provider", async () => {
    emu.inject({ kind: "quota", match: { path: "VirtualMachines_CreateOrUpdate" }, times: 1 });
    const e = (await launchError(provider())) as ProviderError;
    expect(e).toMatchObject({ kind: "quota", code: "OperationNotAllowed", scope: "provider" });
    expect(e.suggestion).toContain(QUOTAS_URL);
    nothingLeft();
  });

  it("AuthorizationFailed (403) is auth", async () => {
    emu.inject({ kind: "auth-failed", match: { path: "ResourceGroups_CreateOrUpdate" }, times: 1 });
    expect(await launchError(provider())).toMatchObject({ kind: "auth", code: "AuthorizationFailed", status: 403 });
  });

  it("a lost create answer is an unknown outcome; the machine is then found by name and a relaunch is the same VM", async () => {
    const p = provider();
    const o = await offer(p);
    const intentId = intent();
    emu.inject({ kind: "lost-response", match: { path: "VirtualMachines_CreateOrUpdate" }, times: 1 });
    const e = await p.launch({ intentId, offer: o, sshPublicKey: TEST_PUBLIC_KEY }, signal()).catch((x: unknown) => x);
    expect(isMaybeLaunched(e)).toBe(true);
    expect((await p.listMachines(signal())).map((m) => m.name)).toContain(`kiln-${intentId}`);
    const again = await p.launch({ intentId, offer: o, sshPublicKey: TEST_PUBLIC_KEY }, signal());
    expect(again.id).toBe(`kiln-${intentId}/kiln-${intentId}`);
    expect(emu.live()).toHaveLength(1);
    await p.terminate(again.id, signal());
  });
});

describe("listing lag", () => {
  const listedNames = async (p: AzureProvider) => (await p.listMachines(signal())).map((m) => m.name);

  it("a new VM's group is missing from the group listing for the rule's reads; GET by name finds it all along", async () => {
    // Counted in reads, not time, so a slow machine cannot outwait it.
    emu.inject({ kind: "listing-lag", match: { path: "VirtualMachines_CreateOrUpdate" }, requests: 2, times: 1 });
    const p = provider();
    const m = await p.launch({ intentId: intent(), offer: await offer(p), sshPublicKey: TEST_PUBLIC_KEY }, signal());
    expect((await p.describe(m.id, signal())).notFound).toBeUndefined();
    expect(await listedNames(p)).toEqual([]);
    expect(await listedNames(p)).toEqual([]);
    expect(await listedNames(p)).toEqual([m.name]);
    await p.terminate(m.id, signal());
  });

  it("a lost launch answer plus a lagging listing: the lookup by intent waits within its deadline and finds the VM; no second VM is launched", async () => {
    const p = provider();
    const offers = [await offer(p)];
    // The create happens but its answer is lost, and the group listing misses the new group for three reads:
    // a lookup that trusted one clean listing would conclude "never launched" and launch again.
    emu.inject({ kind: "lost-response", match: { path: "VirtualMachines_CreateOrUpdate" }, times: 1 });
    emu.inject({ kind: "listing-lag", match: { path: "VirtualMachines_CreateOrUpdate" }, requests: 3, times: 1 });
    const ledger = Ledger.open(":memory:");
    ledger.createJob({ id: "j1", name: "j", kind: "sae-pii", specYaml: "", jobDir: "/tmp/j1" });
    const attempt = ledger.startAttempt("j1", "azure");
    const lists = () => emu.exchanges.filter((x) => x.op === "ResourceGroups_List").length;
    const before = lists();
    const r = await launchWithFailover({
      providerFor: async () => p,
      blockedProviders: new Set<string>(),
      // The descriptor's lag: the lookup's deadline, far beyond the three lagging reads.
      listingLagMs: () => 30_000,
      ledger,
      jobId: "j1",
      attemptId: attempt.id,
      offers,
      maxOffers: 5,
      sshKeyName: "kiln-k",
      sshPublicKey: TEST_PUBLIC_KEY,
      signal: signal(),
      logger: nullLogger,
    });
    // Found by its name on the fourth listing, inside the deadline: the same VM the lost create made.
    expect(lists() - before).toBe(4);
    expect(r.failures).toEqual([]);
    const rows = ledger.listMachines("j1");
    expect(rows).toHaveLength(1);
    expect(r.machine.id).toBe(`kiln-${rows[0]!.intent_id}/kiln-${rows[0]!.intent_id}`);
    expect(rows[0]!.provider_id).toBe(r.machine.id);
    // One create PUT and one VM, billed once: nothing was launched twice.
    expect(emu.exchanges.filter((x) => x.op === "VirtualMachines_CreateOrUpdate").map((x) => x.status)).toEqual([201]);
    expect(emu.live().map((v) => v.id)).toEqual([r.machine.id]);
    expect(emu.billed()).toHaveLength(1);
    await p.terminate(r.machine.id, signal());
  });

  it("the lookup never calls a lagging VM absent before its deadline, and after it says so only when it is truly gone", async () => {
    const p = provider();
    const o = await offer(p);
    const intentId = intent();
    emu.inject({ kind: "lost-response", match: { path: "VirtualMachines_CreateOrUpdate" }, times: 1 });
    emu.inject({ kind: "listing-lag", match: { path: "VirtualMachines_CreateOrUpdate" }, requests: 2, times: 1 });
    const e = await p.launch({ intentId, offer: o, sshPublicKey: TEST_PUBLIC_KEY }, signal()).catch((x: unknown) => x);
    expect(isMaybeLaunched(e)).toBe(true);
    expect((await findByIntent(p, intentId, signal(), 30_000))?.name).toBe(`kiln-${intentId}`);
    // An intent whose create never happened: clean listings until past the deadline (2 s here), then undefined.
    expect(await findByIntent(p, intent(), signal(), 2_000)).toBeUndefined();
    expect(emu.live()).toHaveLength(1);
    await p.terminate(`kiln-${intentId}/kiln-${intentId}`, signal());
  });
});

describe("transport faults", () => {
  it("429 is rate-limited with Retry-After", async () => {
    emu.inject({ kind: "rate-limit", match: { path: "ResourceGroups_List" }, delayMs: 2_000, times: 1 });
    const e = await provider().listMachines(signal()).catch((x: unknown) => x);
    expect(e).toMatchObject({ provider: "azure", kind: "rate-limited", status: 429, retryAfterMs: 2_000 });
  });

  it("5xx is transient; the SDK's own retry gets past a single one", async () => {
    emu.inject({ kind: "error-5xx", match: { path: "ResourceGroups_List" }, times: 1 });
    expect(await provider(0).listMachines(signal()).catch((x: unknown) => x)).toMatchObject({ kind: "transient", status: 503 });
    emu.inject({ kind: "error-5xx", match: { path: "ResourceGroups_List" }, times: 1 });
    expect(await provider(2).listMachines(signal())).toEqual([]);
  });

  it("an HTML error page is a transient ProviderError naming Azure", async () => {
    emu.inject({ kind: "html-error", match: { path: "ResourceGroups_Get" }, times: 1 });
    const e = await provider().describe("kiln-x/kiln-x", signal()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ provider: "azure", kind: "transient" });
    expect((e as Error).message).toMatch(/^Azure /);
  });

  it("a malformed body is an error naming the field", async () => {
    emu.inject({ kind: "malformed", match: { path: "ResourceGroups_Get" }, times: 1 });
    const e = await provider().describe("kiln-x/kiln-x", signal()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect((e as Error).message).toMatch(/^Azure read the resource group: unexpected response, field (name|location)/);
  });

  it("a wrong token is auth, in one line, without a stack", async () => {
    const p = new AzureProvider({ client: new AzureClient({ subscriptionId: emu.subscriptionId, credential: staticToken("wrong"), endpoint: emu.url, maxRetries: 0 }), sshSourceCidr: async () => "127.0.0.1/32", pricesUrl: false });
    const e = (await p.listMachines(signal()).catch((x: unknown) => x)) as ProviderError;
    expect(e).toMatchObject({ kind: "auth", code: "InvalidAuthenticationToken", status: 401 });
    expect(e.message).toBe("Azure list resource groups: InvalidAuthenticationToken: The access token is invalid.");
    expect(e.suggestion).toMatch(/az login/);
  });
});

describe("spot", () => {
  it("asks for Spot with evictionPolicy Delete and maxPrice = capPricePerHour; an eviction is a reclaim, and terminate leaves nothing", async () => {
    const p = provider();
    const o = await offer(p, true);
    expect(o.capPricePerHour).toBeGreaterThan(o.pricePerHour);
    const m = await p.launch({ intentId: intent(), offer: o, sshPublicKey: TEST_PUBLIC_KEY }, signal());
    const vm = [...emu.account.vms.values()][0]!;
    expect(vm.properties).toMatchObject({ priority: "Spot", evictionPolicy: "Delete", billingProfile: { maxPrice: o.capPricePerHour } });
    const nsg = [...emu.account.network.values()].find((r) => String(r.body["type"]).endsWith("networkSecurityGroups"))!;
    expect(nsg.body["properties"]).toMatchObject({ securityRules: [{ properties: { sourceAddressPrefix: "127.0.0.1/32", destinationPortRange: "22" } }] });
    for (let i = 0; i < 200 && (await p.describe(m.id, signal())).state !== "running"; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 2_100)); // past the provider's 2 s window for a VM not yet listed
    await emu.reclaim(m.id);
    const d = await p.describe(m.id, signal());
    expect(d.reclaimed?.reason).toMatch(/evicted/);
    expect(d.state).toBe("unhealthy"); // its group (public IP, NIC) is still there and may bill
    await p.terminate(m.id, signal());
    for (let i = 0; i < 200 && (await p.describe(m.id, signal())).state !== "terminated"; i++) await new Promise((r) => setTimeout(r, 25));
    nothingLeft();
    expect(emu.billed().map((b) => b.status)).toEqual(["terminated"]);
  });
});

describe("prices", () => {
  it("reads live Linux on-demand and Spot prices across pages, skipping Windows and DevTest meters", async () => {
    const offers = await provider().listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "allowed" }, signal());
    const a100 = offers.filter((o) => o.instanceType === "Standard_NC24ads_A100_v4" && o.region === "eastus");
    expect(a100.map((o) => [o.spot, o.pricePerHour, o.priceSource])).toEqual([
      [true, 1.36, "live"],
      [false, 3.67, "live"],
    ]);
  });

  it("does not plan on a live price of $0: that row falls back to the dated catalog", async () => {
    const row = emu.account.o.prices.find((x) => x.size.armSku === "Standard_NC24ads_A100_v4" && x.region === "eastus")! as { onDemand: number };
    const was = row.onDemand;
    row.onDemand = 0;
    try {
      const offers = await provider().listOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "never" }, signal());
      const a100 = offers.filter((o) => o.instanceType === "Standard_NC24ads_A100_v4" && o.region === "eastus");
      expect(a100.map((o) => [o.pricePerHour > 0, o.priceSource])).toEqual([[true, "catalog"]]);
    } finally {
      row.onDemand = was;
    }
  });

  it("falls back to the dated catalog when the prices API cannot be reached", async () => {
    const p = new AzureProvider({ client: new AzureClient({ subscriptionId: emu.subscriptionId, credential: staticToken(emu.token), endpoint: emu.url }), sshSourceCidr: async () => "127.0.0.1/32", pricesUrl: "http://127.0.0.1:9/api/retail/prices" });
    const offers = await p.listOffers({ gpus: ["H100-94GB"], count: 1, minVramGb: 1, spot: "never" }, signal());
    expect(offers).toMatchObject([{ instanceType: "Standard_NC40ads_H100_v5", priceSource: "catalog", pricePerHour: 6.98, region: "eastus" }]);
  });
});

// The Azure emulator's Microsoft.Compute traffic, driven by the real SDK, checked exchange by exchange
// against the 2024-07-01 Swagger (./testing/swagger.ts): zero violations, every virtualMachines operation
// the emulator serves exercised. What is outside that Swagger (resource groups, network, the LRO status
// monitor, permissions) is listed, so its minimal emulation is a visible choice.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { type AzureEmulator, type Exchange, startAzureEmulator } from "./emulator.js";
import { emulatedClient, emulatedProvider } from "./emulated.js";
import { TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { checkExchanges } from "./testing/swagger.js";

const signal = () => AbortSignal.timeout(30_000);
let emu: AzureEmulator;

beforeAll(async () => {
  emu = await startAzureEmulator({ machines: new SshdMachines(), bootDelayMs: 20 });
});
afterAll(async () => {
  await emu.close();
});

describe("Azure emulator vs the Compute Swagger (2024-07-01)", () => {
  it("every exchange conforms, and every virtualMachines operation served is exercised", async () => {
    const p = emulatedProvider(emu, { sshPortOf: (id) => emu.sshEndpoint(id)?.port });
    const [spot] = (await p.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "prefer" }, signal())).filter((o) => o.spot);
    const m = await p.launch({ intentId: "c0ffee00-1", offer: spot!, sshPublicKey: TEST_PUBLIC_KEY }, signal());
    const client = emulatedClient(emu);
    const { compute } = await client.sdk();
    const [g, name] = m.id.split("/") as [string, string];
    await compute.virtualMachines.instanceView(g, name);
    for await (const _ of compute.virtualMachines.list(g));
    for await (const _ of compute.virtualMachines.listAll({ statusOnly: "true" }));
    await compute.virtualMachines.get(g, "no-such-vm").catch(() => undefined); // a 404 in the CloudError envelope
    await compute.virtualMachines.simulateEviction(g, name);
    const second = await p.launch({ intentId: "c0ffee00-2", offer: spot!, sshPublicKey: TEST_PUBLIC_KEY }, signal());
    const [g2, name2] = second.id.split("/") as [string, string];
    await compute.virtualMachines.delete(g2, name2, { updateIntervalInMs: 20 });
    await p.terminate(m.id, signal());
    await p.terminate(second.id, signal());

    const c = checkExchanges(emu.exchanges);
    expect(c.violations).toEqual([]);
    expect([...c.covered].sort()).toEqual([
      "VirtualMachines_CreateOrUpdate",
      "VirtualMachines_Delete",
      "VirtualMachines_Get",
      "VirtualMachines_InstanceView",
      "VirtualMachines_List",
      "VirtualMachines_ListAll",
      "VirtualMachines_SimulateEviction",
    ]);
    // Emulated minimally, outside the Swagger (and so not validated against it); nothing else.
    const outside = [
      "NetworkInterfaces_CreateOrUpdate",
      "NetworkSecurityGroups_CreateOrUpdate",
      "Operations_Status",
      "PublicIPAddresses_CreateOrUpdate",
      "PublicIPAddresses_Get",
      "ResourceGroups_CreateOrUpdate",
      "ResourceGroups_Delete",
      "ResourceGroups_DeleteStatus",
      "ResourceGroups_Get",
      "VirtualNetworks_CreateOrUpdate",
    ];
    for (const op of c.undocumented) expect(outside).toContain(op);
  });

  it("the validator catches what does not conform", () => {
    const path = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/v";
    const bad: Exchange[] = [
      { op: "x", method: "PUT", path, query: { "api-version": "2026-03-01" }, requestBody: { location: "eastus", properties: { priority: 7 } }, status: 201, responseBody: { name: 1 }, headers: {} },
      { op: "x", method: "GET", path, query: { "api-version": "2024-07-01" }, requestBody: undefined, status: 202, responseBody: {}, headers: {} },
    ];
    const v = checkExchanges(bad).violations.join("\n");
    expect(v).toMatch(/api-version 2026-03-01, the spec is 2024-07-01/);
    expect(v).toMatch(/request body: \/properties\/priority must be string/);
    expect(v).toMatch(/response body: .*\/name must be string/);
    expect(v).toMatch(/without Azure-AsyncOperation or Location/);
    expect(v).toMatch(/VirtualMachines_Get .* success status not documented/);
  });
});

// An Azure VM ends its own billing with no key on it (./self-stop.ts), against the emulator: a launch that
// needs it creates the VM with a system-assigned identity and assigns that identity, on the VM alone, a role
// that may only delete a VM; the watchdog's end-billing script, run as the VM runs it (its IMDS through the
// VM's proxy), gets the identity's token and deletes the VM, and the bill stops. The token can do nothing
// else: not delete the job's resource group, not another VM. A caller who may not assign roles is refused
// before anything is created, naming the rights and the alternative.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { ProviderError } from "../provider.js";
import { checkAzure } from "./check.js";
import { azureDescriptor } from "./descriptor.js";
import { emulatedClient, emulatedProvider } from "./emulated.js";
import { type AzureEmulator, startAzureEmulator } from "./emulator.js";
import { azureEndBilling, guidFor, selfStopRoleId } from "./self-stop.js";
import { TEST_PUBLIC_KEY } from "./testing/fixtures.js";

const signal = () => AbortSignal.timeout(60_000);
let emu: AzureEmulator;
let n = 0;
const intent = () => `5e1f5709-${(++n).toString(16).padStart(4, "0")}${Date.now().toString(16)}`;
const dir = mkdtempSync(join(tmpdir(), "kiln-azure-self-stop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  emu = await startAzureEmulator({ machines: new SshdMachines(), bootDelayMs: 20 });
});
afterEach(async () => {
  await emu.close();
});

const provider = () => emulatedProvider(emu, { maxRetries: 0, sshPortOf: (id) => emu.sshEndpoint(id)?.port });

async function launch(selfStop: boolean) {
  const p = provider();
  const offer = (await p.listOffers({ gpus: ["A100-80GB"], count: 1, minVramGb: 80, spot: "never" }, signal())).find((o) => o.region === "eastus")!;
  return p.launch({ intentId: intent(), offer, sshPublicKey: TEST_PUBLIC_KEY, ...(selfStop && { selfStop }) }, signal());
}

/**
 * The end-billing script as the watchdog runs it on the VM: `sh end-billing.sh ARGS`, with the VM's proxy for
 * 169.254.169.254. Asynchronously: the emulator answering it lives in this process.
 */
async function endBillingOnVm(machineId: string): Promise<{ status: number | null; out: string }> {
  const [group, name] = machineId.split("/") as [string, string];
  const vm = emu.account.vm(group, name)!;
  const eb = azureEndBilling(emu.url, emu.subscriptionId)(machineId);
  expect(eb.files).toEqual([]); // no key on the machine
  const script = join(dir, `end-billing-${++n}.sh`);
  writeFileSync(script, eb.script);
  return new Promise((res) => {
    const child = execFile("sh", [script, ...eb.args], { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", ...emu.account.o.machineEnv!(vm) } }, (_e, stdout, stderr) => res({ status: child.exitCode, out: `${stdout}${stderr}` }));
  });
}

/** The VM identity's token from its IMDS, as the script gets it. */
async function identityToken(machineId: string): Promise<string> {
  const [group, name] = machineId.split("/") as [string, string];
  const vm = emu.account.vm(group, name)!;
  const r = await fetch(`${emu.url}/__imds/${vm.vmId}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=${encodeURIComponent("https://management.azure.com/")}`, { headers: { Metadata: "true" } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { access_token: string }).access_token;
}

describe.skipIf(!existsSync("/usr/bin/curl"))("an Azure VM that ends its own billing (managed identity; needs curl)", () => {
  it("gets an identity and a delete-only role on itself; the watchdog's script deletes the VM and the bill stops", async () => {
    const m = await launch(true);
    const [group, name] = m.id.split("/") as [string, string];
    const vm = emu.account.vm(group, name)!;
    expect(vm.principalId).toMatch(/^[0-9a-f-]{36}$/);
    const role = emu.account.identities.roles.get(selfStopRoleId(emu.subscriptionId).toLowerCase())!;
    expect(role.permissions).toEqual([{ actions: ["Microsoft.Compute/virtualMachines/delete"], notActions: [] }]);
    const assignments = [...emu.account.identities.assignments.values()];
    expect(assignments).toEqual([{ name: expect.any(String), scope: `/subscriptions/${emu.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Compute/virtualMachines/${name}`, principalId: vm.principalId, roleDefinitionId: selfStopRoleId(emu.subscriptionId) }]);
    await pollUntil(async () => ((await provider().describe(m.id, signal())).state === "running" ? true : undefined), { what: "the VM running", timeoutMs: 30_000, intervalMs: 25 });
    const r = await endBillingOnVm(m.id);
    expect(r.status, r.out).toBe(0);
    await pollUntil(async () => (emu.account.vm(group, name) === undefined ? true : undefined), { what: "the VM deleted", timeoutMs: 30_000, intervalMs: 25 });
    const bill = emu.billed().find((b) => b.id === m.id.toLowerCase())!;
    expect(bill.status).not.toBe("running");
    const billed = bill.billedSeconds;
    await new Promise((res) => setTimeout(res, 300));
    expect(emu.billed().find((b) => b.id === m.id.toLowerCase())!.billedSeconds).toBe(billed);
    // Only the VM went: the group (its public IP) stays for a client to delete.
    expect(emu.account.group(group)).toBeDefined();
  });

  it("the identity's token can delete its own VM only: not the job's resource group, not another VM", async () => {
    const mine = await launch(true);
    const other = await launch(true);
    const token = await identityToken(mine.id);
    const arm = (method: string, path: string) => fetch(`${emu.url}${path}?api-version=2024-07-01`, { method, headers: { authorization: `Bearer ${token}` } });
    const [g1] = mine.id.split("/") as [string, string];
    const [g2, n2] = other.id.split("/") as [string, string];
    const sub = `/subscriptions/${emu.subscriptionId}`;
    expect((await arm("DELETE", `${sub}/resourceGroups/${g1}`)).status).toBe(403);
    expect((await arm("DELETE", `${sub}/resourceGroups/${g2}/providers/Microsoft.Compute/virtualMachines/${n2}`)).status).toBe(403);
    expect((await arm("GET", `${sub}/resourceGroups/${g1}`)).status).toBe(403);
    expect(emu.account.vm(g2, n2)).toBeDefined();
    // A token nobody issued is no token.
    expect((await fetch(`${emu.url}${sub}/resourceGroups/${g1}?api-version=2024-07-01`, { headers: { authorization: "Bearer mi-forged" } })).status).toBe(401);
  });

  it("a caller who may not assign roles is refused before anything is created; `kiln check` lists the rights; without selfStop no identity is asked", async () => {
    emu.setPermissions([{ actions: ["*"], notActions: ["Microsoft.Authorization/*/write"] }]);
    const refused = await launch(true).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProviderError);
    expect((refused as ProviderError).kind).toBe("auth");
    expect((refused as ProviderError).message).toMatch(/Microsoft\.Authorization\/roleDefinitions\/write, Microsoft\.Authorization\/roleAssignments\/write/);
    expect((refused as ProviderError).suggestion).toMatch(/Owner or User Access Administrator/);
    expect(emu.live()).toEqual([]);
    expect(emu.account.groups.size).toBe(0);
    const check = await checkAzure(emulatedClient(emu), signal());
    expect(check.missing.filter((x) => x.step === "self-stop").map((x) => x.action)).toEqual(["Microsoft.Authorization/roleDefinitions/write", "Microsoft.Authorization/roleAssignments/write"]);
    // A job whose watchdog never ends billing asks for none of it.
    const plain = await launch(false);
    const [group, name] = plain.id.split("/") as [string, string];
    expect(emu.account.vm(group, name)!.principalId).toBeUndefined();
    expect(emu.account.identities.assignments.size).toBe(0);
  });

  it("the plan says the VM deletes itself, and the ids are stable", () => {
    expect(azureDescriptor.cap).toMatchObject({ apiTerminate: "machine-identity" });
    expect(guidFor("x")).toBe(guidFor("x"));
    expect(guidFor("x")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

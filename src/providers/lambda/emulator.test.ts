// Every endpoint Kiln uses, driven through the real client against the real emulator, with every
// request and response validated against Lambda's OpenAPI spec.
import { afterEach, describe, expect, it } from "vitest";
import { TEST_PUBLIC_KEY as PUB, providerRejection as rejection } from "./testing/fixtures.js";
import { checkedLambdaClient, lambdaSpec } from "./testing/openapi.js";
import { type LambdaEmulator, startLambdaEmulator } from "./emulator.js";

const signal = new AbortController().signal;
let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});


describe("Lambda emulator, spec-validated", () => {
  it("serves every endpoint Kiln uses in the spec's shapes", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 30, terminatedVisibleMs: 60_000 });
    const { client, check } = checkedLambdaClient(emu);

    const types = await client.listInstanceTypes(signal);
    expect(types["gpu_1x_a100"]?.instance_type.price_cents_per_hour).toBe(129);
    expect(types["gpu_8x_h100_sxm5"]?.regions_with_capacity_available).toEqual([]);

    const key = await client.addSshKey("kiln-key", PUB, signal);
    const generated = await client.addSshKey("generated", undefined, signal);
    expect(generated.private_key).toMatch(/BEGIN PRIVATE KEY/);
    expect(generated.public_key).toMatch(/^ssh-ed25519 AAAA/);
    expect((await client.listSshKeys(signal)).map((k) => k.name)).toEqual(["kiln-key", "generated"]);
    expect(await client.ensureSshKey("kiln-key", `${PUB} other-comment`, signal)).toMatchObject({ id: key.id });
    await client.deleteSshKey(generated.id, signal);

    const fs = await client.createFileSystem("kilnckpt", "us-west-1", signal);
    expect((await client.listFileSystems(signal)).map((f) => f.name)).toEqual(["kilnckpt"]);

    const [id] = await client.launchInstance(
      { region_name: "us-west-1", instance_type_name: "gpu_1x_a100", ssh_key_names: ["kiln-key"], name: "kiln-abc", file_system_names: ["kilnckpt"] },
      signal,
    );
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const inst = await client.getInstance(id!, signal);
    expect(inst).toMatchObject({ name: "kiln-abc", status: "active", ip: "127.0.0.1", file_system_names: ["kilnckpt"] });
    expect((await client.listInstances(signal)).map((i) => i.id)).toEqual([id]);
    expect((await client.renameInstance(id!, "kiln-renamed", signal)).name).toBe("kiln-renamed");
    expect((await client.restartInstances([id!], signal))[0]?.id).toBe(id);
    expect((await client.listImages(signal)).length).toBeGreaterThan(0);
    const rules = [{ protocol: "tcp" as const, port_range: [22, 22] as [number, number], source_network: "203.0.113.0/24", description: "ssh" }];
    expect(await client.setFirewallRules(rules, signal)).toEqual(rules);
    expect(await client.listFirewallRules(signal)).toEqual(rules);

    expect((await rejection(client.deleteFileSystem(fs.id, signal))).code).toBe("filesystems/filesystem-in-use");
    const terminated = await client.terminateInstances([id!], signal);
    expect(terminated[0]?.status).toBe("terminating");
    await new Promise((r) => setTimeout(r, 50));
    expect((await client.getInstance(id!, signal)).status).toBe("terminated");
    expect(await client.deleteFileSystem(fs.id, signal)).toEqual([fs.id]);

    // Error answers are spec-shaped too.
    expect((await rejection(client.getInstance("0".repeat(32), signal))).status).toBe(404);
    await client.createFileSystem("dup", "us-east-1", signal);
    expect((await rejection(client.createFileSystem("dup", "us-east-1", signal))).code).toBe("global/duplicate");

    expect(check.violations).toEqual([]);
    const used = ["listInstanceTypes", "addSSHKey", "listSSHKeys", "deleteSSHKey", "createFilesystem", "listFilesystems", "filesystemDelete", "launchInstance", "getInstance", "listInstances", "postInstance", "restartInstance", "terminateInstance", "listImages", "firewallRulesList", "firewallRulesSet"];
    expect(used.filter((op) => !check.seen.has(op))).toEqual([]);
  });

  it("answers launch failures with the spec's codes and statuses", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0, quota: { maxInstances: 1 } });
    const { client, check } = checkedLambdaClient(emu);
    await client.addSshKey("k", PUB, signal);
    const launch = (instance_type_name: string, region_name: string, ssh_key_names: [string] = ["k"]) => client.launchInstance({ region_name, instance_type_name, ssh_key_names }, signal);

    expect(await rejection(launch("gpu_8x_h100_sxm5", "us-west-1"))).toMatchObject({ kind: "capacity", scope: "region", status: 400, code: "instance-operations/launch/insufficient-capacity" });
    expect(await rejection(launch("gpu_1x_nope", "us-west-1"))).toMatchObject({ kind: "invalid", status: 404, code: "global/object-does-not-exist" });
    expect(await rejection(launch("gpu_1x_a10", "us-west-1", ["missing"]))).toMatchObject({ status: 404, code: "global/object-does-not-exist" });
    await launch("gpu_1x_a10", "us-west-1");
    expect(await rejection(launch("gpu_1x_a10", "us-west-1"))).toMatchObject({ kind: "quota", scope: "provider", code: "global/quota-exceeded" });
    expect(check.violations).toEqual([]);
  });

  it("refuses a bad key with 401 global/invalid-api-key, and accepts Basic auth as curl -u sends it", async () => {
    emu = await startLambdaEmulator();
    const { client, check } = checkedLambdaClient({ url: emu.url, apiKey: "wrong-key" });
    expect(await rejection(client.listInstanceTypes(signal))).toMatchObject({ kind: "auth", scope: "provider", status: 401, code: "global/invalid-api-key" });
    expect(check.violations).toEqual([]);
    const basic = await fetch(`${emu.url}/instance-types`, { headers: { authorization: `Basic ${Buffer.from(`${emu.apiKey}:`).toString("base64")}` } });
    expect(basic.status).toBe(200);
  });

  it("answers 403 global/account-inactive for an inactive account, classified as auth", async () => {
    emu = await startLambdaEmulator();
    emu.accountInactive = true;
    const { client, check } = checkedLambdaClient(emu);
    expect(await rejection(client.listInstances(signal))).toMatchObject({ kind: "auth", scope: "provider", status: 403, code: "global/account-inactive" });
    expect(check.violations).toEqual([]);
  });

  it("rejects a legacy quantity above 1 like the real API", async () => {
    emu = await startLambdaEmulator();
    const res = await fetch(`${emu.url}/instance-operations/launch`, {
      method: "POST",
      headers: { authorization: `Bearer ${emu.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ region_name: "us-west-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["k"], quantity: 2 }),
    });
    const body = await res.json();
    expect(res.status).toBe(400);
    expect(body).toEqual({ error: { code: "global/invalid-parameters", message: "Requested too many instances." } });
    expect(lambdaSpec().validateResponse("POST", "/api/v1/instance-operations/launch", 400, body)).toEqual([]);
  });

  it("serves the rest of the spec too: 405 with Allow, spec-checked bodies, firewall rulesets, the audit log", async () => {
    emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 0 });
    const spec = lambdaSpec();
    const problems: string[] = [];
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${emu!.url}${path}`, { method, headers: { authorization: `Bearer ${emu!.apiKey}` }, ...(body !== undefined && { body: JSON.stringify(body) }) });
      const json = (await res.json()) as { data?: unknown; error?: { code: string; message: string } };
      if (res.status !== 405) problems.push(...spec.validateResponse(method, `/api/v1${path.split("?")[0]}`, res.status, json));
      return { status: res.status, allow: res.headers.get("allow"), ...json };
    };

    expect(await call("PATCH", "/instances")).toMatchObject({ status: 405, allow: "GET" });
    expect(await call("DELETE", "/firewall-rulesets/global")).toMatchObject({ status: 405, allow: "GET, PATCH" });
    expect(await call("POST", "/filesystems", { name: "fs", region: "AAA" })).toMatchObject({ status: 400, error: { code: "global/invalid-parameters" } });
    // An empty instance type is "does not exist", not a complaint about something else in the request.
    expect(await call("POST", "/instance-operations/launch", { instance_type_name: "", region_name: "me-west-1", ssh_key_names: [] })).toMatchObject({ status: 404, error: { message: "Specified instance type does not exist." } });

    await call("POST", "/ssh-keys", { name: "k", public_key: PUB });
    const ruleset = (await call("POST", "/firewall-rulesets", { name: "web", region: "us-west-1", rules: [{ protocol: "icmp", source_network: "0.0.0.0/0", description: "ping" }] })).data as { id: string };
    const launched = await call("POST", "/instance-operations/launch", { instance_type_name: "gpu_1x_a10", region_name: "us-west-1", ssh_key_names: ["k"], firewall_rulesets: [{ id: ruleset.id }], tags: [{ key: "team", value: "kiln" }] });
    const [id] = (launched.data as { instance_ids: string[] }).instance_ids;
    expect((await call("GET", `/instances/${id}`)).data).toMatchObject({ tags: [{ key: "team", value: "kiln" }], firewall_rulesets: [{ id: ruleset.id }] });
    expect((await call("GET", `/firewall-rulesets/${ruleset.id}`)).data).toMatchObject({ name: "web", instance_ids: [id] });
    expect(await call("DELETE", `/firewall-rulesets/${ruleset.id}`)).toMatchObject({ status: 400, error: { code: "firewall-rulesets/firewall-ruleset-in-use" } });
    await call("POST", "/instance-operations/terminate", { instance_ids: [id] });
    expect(await call("DELETE", `/firewall-rulesets/${ruleset.id}`)).toMatchObject({ status: 200, data: {} });
    expect(await call("GET", `/firewall-rulesets/${ruleset.id}`)).toMatchObject({ status: 404, error: { suggestion: "Check your firewall ruleset ID and try again." } });
    expect((await call("PATCH", "/firewall-rulesets/global", { rules: [] })).data).toEqual({ id: "global", name: "Global Firewall Rules", rules: [] });
    expect((await call("GET", "/firewall-rules")).data).toEqual([]);

    const instanceEvents = (await call("GET", "/audit-events?resource_type=cloud.instance")).data as { events: { action: string; resource_lrns: string[] }[]; page_token: string | null };
    expect(instanceEvents.events.map((e) => [e.action, e.resource_lrns])).toEqual([
      ["launched", [`lrn:cloud:instance:${id}`]],
      ["terminated", [`lrn:cloud:instance:${id}`]],
    ]);
    expect(instanceEvents.page_token).toBeNull();
    expect((await call("GET", "/audit-events?start=2999-01-01T00:00:00Z")).data).toEqual({ events: [], page_token: null });
    expect(await call("GET", "/audit-events?start=yesterday")).toMatchObject({ status: 400 });
    // Pages of 100, continued by the token the previous page handed out.
    for (let n = 0; n < 120; n++) await call("POST", "/ssh-keys", { name: `k${n}` , public_key: PUB });
    const first = (await call("GET", "/audit-events?resource_type=cloud.ssh_key")).data as { events: unknown[]; page_token: string };
    const second = (await call("GET", `/audit-events?resource_type=cloud.ssh_key&page_token=${first.page_token}`)).data as { events: unknown[]; page_token: string | null };
    expect([first.events.length, second.events.length, second.page_token]).toEqual([100, 21, null]);
    expect(await call("GET", "/audit-events?page_token=abCdEFg0h1I2jKlm34n5O6Pq78r%3D")).toMatchObject({ status: 400, error: { message: "Invalid page token." } });
    expect(problems).toEqual([]);
  });
});

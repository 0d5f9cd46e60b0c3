// `kiln check` for Azure against the emulator (subscription, principal, missing permissions), wrong
// credentials as a clear one-line error, the settings' sources, and the error mapping of identity errors.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { nullLogger } from "../../base/logger.js";
import { SshdMachines } from "../emulator-kit/sshd-machines.js";
import { ProviderError } from "../provider.js";
import { principalOf } from "./auth.js";
import { azureDescriptor } from "./descriptor.js";
import { type AzureEmulator, startAzureEmulator } from "./emulator.js";
import { toProviderError } from "./errors.js";
import { loadAzureSettings } from "./settings.js";

let emu: AzureEmulator;
let dir: string;
beforeAll(async () => {
  emu = await startAzureEmulator({ machines: new SshdMachines() });
  dir = mkdtempSync(join(tmpdir(), "kiln-azure-check-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

const ctx = (env: Record<string, string>) => ({ env, credentialsPath: join(dir, "credentials.json"), logger: nullLogger });
const emuEnv = (token = emu.token) => ({ KILN_AZURE_API_URL: emu.url, KILN_AZURE_TOKEN: token, AZURE_SUBSCRIPTION_ID: emu.subscriptionId });
const check = (env: Record<string, string>) => azureDescriptor.check!(ctx(env), AbortSignal.timeout(20_000));

describe("kiln check (azure)", () => {
  it("names the subscription and says every permission is granted", async () => {
    emu.setPermissions([{ actions: ["*"], notActions: [] }]);
    expect(await check(emuEnv())).toBe(`subscription ${emu.subscriptionId} (from KILN_AZURE_API_URL (emulator)): every permission Kiln needs is granted at subscription scope`);
  });

  it("lists the permissions missing for launch, terminate and tagging (a Reader can only describe)", async () => {
    emu.setPermissions([{ actions: ["*/read"], notActions: ["Microsoft.Resources/tags/*"] }]);
    const line = (await check(emuEnv()))!;
    expect(line).toMatch(/missing at subscription scope/);
    expect(line).toMatch(/launch: Microsoft\.Resources\/subscriptions\/resourceGroups\/write, .*Microsoft\.Compute\/virtualMachines\/write/);
    expect(line).toMatch(/terminate: Microsoft\.Resources\/subscriptions\/resourceGroups\/delete/);
    expect(line).toMatch(/tagging: Microsoft\.Resources\/tags\/read/);
    expect(line).not.toMatch(/describe:/);
    emu.setPermissions([{ actions: ["*"], notActions: [] }]);
  });

  it("wrong credentials are a UserError in one line with what to do, never a stack", async () => {
    const e = await check(emuEnv("not-the-token")).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toBe("Azure refused the credentials: Azure list the caller's permissions: InvalidAuthenticationToken: The access token is invalid.");
    expect((e as UserError).message).not.toMatch(/\n| {4}at /);
    expect((e as UserError).hint).toMatch(/az login/);
  });

  it("`kiln emulate azure` prints an environment that `kiln check` accepts", async () => {
    const running = await azureDescriptor.emulate!({ host: "127.0.0.1", port: 0 });
    try {
      expect(Object.keys(running.env).sort()).toEqual(["AZURE_SUBSCRIPTION_ID", "KILN_AZURE_API_URL", "KILN_AZURE_TOKEN"]);
      expect(await check(running.env)).toMatch(/every permission Kiln needs is granted/);
    } finally {
      expect(await running.close()).toEqual({ launched: 0, live: 0 });
    }
  });

  it("an emulator URL without its token is an auth error that says which variable", async () => {
    const e = await azureDescriptor.configured!(ctx({ KILN_AZURE_API_URL: emu.url })).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: "auth", code: "kiln/no-token" });
  });
});

describe("settings", () => {
  it("AZURE_SUBSCRIPTION_ID first, then the credentials file's azure section; a bad section names the field", async () => {
    const path = join(dir, "credentials.json");
    expect(await loadAzureSettings({ AZURE_SUBSCRIPTION_ID: "11111111-2222-3333-4444-555555555555" }, path)).toMatchObject({ subscriptionId: "11111111-2222-3333-4444-555555555555", source: "AZURE_SUBSCRIPTION_ID" });
    expect(await loadAzureSettings({}, path)).toBeUndefined();
    writeFileSync(path, JSON.stringify({ azure: { subscription_id: "11111111-2222-3333-4444-555555555555", regions: ["westus3"] } }));
    chmodSync(path, 0o600);
    expect(await loadAzureSettings({}, path)).toMatchObject({ regions: ["westus3"], source: path });
    writeFileSync(path, JSON.stringify({ azure: { subscription_id: "nope" } }));
    const e = await loadAzureSettings({}, path).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect((e as Error).message).toMatch(/azure\.subscription_id/);
    rmSync(path);
  });
});

describe("identity errors", () => {
  it("DefaultAzureCredential finding no credential is auth with the az login advice", async () => {
    const { CredentialUnavailableError } = await import("@azure/identity");
    const e = toProviderError(new CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token from the included credentials.\nAttempted credentials: …"), "list resource groups");
    expect(e).toMatchObject({ kind: "auth", code: "CredentialUnavailableError", scope: "provider" });
    expect(e.message).toBe("Azure list resource groups: CredentialUnavailableError: DefaultAzureCredential failed to retrieve a token from the included credentials.");
    expect(e.suggestion).toMatch(/az login/);
  });

  it("the principal is read from the token's claims", () => {
    const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
    expect(principalOf(jwt({ upn: "ada@example.com", oid: "o-1" }))).toBe("ada@example.com (object id o-1)");
    expect(principalOf(jwt({ appid: "app-1" }))).toBe("app app-1");
    expect(principalOf("opaque-emulator-token")).toBeUndefined();
  });
});

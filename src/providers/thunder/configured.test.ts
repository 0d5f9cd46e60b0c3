// Wiring from configuration: TNR_API_TOKEN or the `thunder` section, an emulator on loopback, `kiln check`,
// `kiln emulate thunder`.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { thunderDescriptor } from "./descriptor.js";
import { startThunderEmulator, type ThunderEmulator } from "./emulator.js";

const signal = () => AbortSignal.timeout(10_000);
let emu: ThunderEmulator;
let dir: string;
beforeAll(async () => {
  emu = await startThunderEmulator({ bootDelayMs: 0 });
  dir = mkdtempSync(join(tmpdir(), "kiln-thunder-conf-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});
const ctx = (env: NodeJS.ProcessEnv, credentialsPath = join(dir, "none.json")) => ({ env, credentialsPath, logger: nullLogger });

describe("configured Thunder", () => {
  it("is absent without a token, and talks to KILN_THUNDER_API_URL (loopback: emulated) with one", async () => {
    expect(await thunderDescriptor.configured!(ctx({}))).toBeUndefined();
    const t = await thunderDescriptor.configured!(ctx({ TNR_API_TOKEN: emu.token, KILN_THUNDER_API_URL: emu.url }));
    expect(t).toMatchObject({ source: "TNR_API_TOKEN", emulated: true });
    expect(await t!.provider.listMachines(signal())).toEqual([]);
    expect(t!.endBilling!("u-1")).toMatchObject({ args: [emu.url, "u-1"], files: [{ name: "auth-header", content: `Authorization: Bearer ${emu.token}\n` }] });
  });

  it("reads the `thunder` section of a 0600 credentials file, and refuses a readable one", async () => {
    const file = join(dir, "credentials.json");
    writeFileSync(file, JSON.stringify({ thunder: { api_token: emu.token } }), { mode: 0o600 });
    expect(await thunderDescriptor.configured!(ctx({ KILN_THUNDER_API_URL: emu.url }, file))).toMatchObject({ source: file });
    writeFileSync(join(dir, "open.json"), "{}", { mode: 0o644 });
    await expect(thunderDescriptor.configured!(ctx({}, join(dir, "open.json")))).rejects.toMatchObject({ kind: "auth", code: "kiln/credentials-permissions" });
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ thunder: { token: "x" } }), { mode: 0o600 });
    await expect(thunderDescriptor.configured!(ctx({}, join(dir, "bad.json")))).rejects.toMatchObject({ kind: "auth", message: expect.stringMatching(/thunder/) });
  });

  it("`kiln check` names what it found, and a bad token gets the fix", async () => {
    expect(await thunderDescriptor.check!(ctx({ TNR_API_TOKEN: emu.token, KILN_THUNDER_API_URL: emu.url }), signal())).toMatch(/^token from TNR_API_TOKEN works \(account [0-9a-f]{8}…: 0 instance\(s\), 0 of them Kiln's\)$/);
    await expect(thunderDescriptor.check!(ctx({ TNR_API_TOKEN: "wrong", KILN_THUNDER_API_URL: emu.url }), signal())).rejects.toMatchObject({ name: "UserError", hint: expect.stringMatching(/TNR_API_TOKEN/) });
  });

  it("`kiln emulate thunder` serves the emulator and the env that points Kiln at it", async () => {
    const running = await thunderDescriptor.emulate!({ host: "127.0.0.1", port: 0 });
    expect(Object.keys(running.env).sort()).toEqual(["KILN_THUNDER_API_URL", "TNR_API_TOKEN"]);
    expect(await (await fetch(`${running.url}/pricing`)).json()).toMatchObject({ pricing: expect.any(Object) });
    expect(await running.close()).toEqual({ launched: 0, live: 0 });
  });
});

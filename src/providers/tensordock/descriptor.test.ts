// The descriptor's wiring: credentials from the environment or the credentials file, the configured organization
// (an emulator when KILN_TENSORDOCK_API_URL is loopback), `kiln check` with a good and a bad token, `kiln emulate`,
// and the watchdog's end of billing.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { nullLogger } from "../../base/logger.js";
import { tensordockDescriptor as d } from "./descriptor.js";
import { startTensordockEmulator, type TensordockEmulator } from "./emulator.js";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";

const signal = () => AbortSignal.timeout(10_000);
// Async: the emulator answering the script lives in this process.
const run = promisify(execFile);
const NO_FILE = "/nonexistent/credentials.json";
const ctx = (env: NodeJS.ProcessEnv, credentialsPath = NO_FILE) => ({ env, credentialsPath, logger: nullLogger });
let emu: TensordockEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

describe("TensorDock descriptor", () => {
  it("reads TENSORDOCK_API_TOKEN first, then the tensordock section of the credentials file", async () => {
    expect(await d.configured!(ctx({}))).toBeUndefined();
    emu = await startTensordockEmulator({ bootDelayMs: 0 });
    const fromEnv = await d.configured!(ctx({ TENSORDOCK_API_TOKEN: emu.apiToken, KILN_TENSORDOCK_API_URL: emu.apiUrl }));
    expect(fromEnv).toMatchObject({ source: "TENSORDOCK_API_TOKEN", emulated: true });
    const dir = mkdtempSync(join(tmpdir(), "kiln-td-creds-"));
    try {
      const file = join(dir, "credentials.json");
      writeFileSync(file, JSON.stringify({ tensordock: { api_token: emu.apiToken } }), { mode: 0o600 });
      const fromFile = await d.configured!(ctx({ KILN_TENSORDOCK_API_URL: emu.apiUrl }, file));
      expect(fromFile).toMatchObject({ source: file, emulated: true });
      const offers = await fromFile!.provider.listOffers({ gpus: ["H100-80GB"], count: 1, minVramGb: 80, spot: "never" }, signal());
      expect(offers.map((o) => o.instanceType)).toEqual(["h100-sxm5-80gb"]);
      // The real API when the URL is not loopback (nothing is called here).
      expect(await d.configured!(ctx({ TENSORDOCK_API_TOKEN: "t" }))).toMatchObject({ emulated: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(d.credentials).toMatchObject({ envVars: ["TENSORDOCK_API_TOKEN"], fileSection: "tensordock", createAt: "https://dashboard.tensordock.com/api" });
  });

  it("check names what the organization holds, and words a bad token as a user error with where to make one", async () => {
    emu = await startTensordockEmulator({ bootDelayMs: 0 });
    const cloud = await d.configured!(ctx({ TENSORDOCK_API_TOKEN: emu.apiToken, KILN_TENSORDOCK_API_URL: emu.apiUrl }));
    const [offer] = await cloud!.provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, signal());
    await cloud!.provider.launch({ intentId: "chk", offer: offer!, sshPublicKey: PUB }, signal());
    expect(await d.check!(ctx({ TENSORDOCK_API_TOKEN: emu.apiToken, KILN_TENSORDOCK_API_URL: emu.apiUrl }), signal())).toBe("token from TENSORDOCK_API_TOKEN works: the organization has 1 instance (1 of them Kiln's)");
    const e = await d.check!(ctx({ TENSORDOCK_API_TOKEN: "td_wrong", KILN_TENSORDOCK_API_URL: emu.apiUrl }), signal()).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toBe("TensorDock rejected the API token from TENSORDOCK_API_TOKEN (HTTP 401)");
  });

  it("emulate serves the API under /api/v2 with the environment that points Kiln at it", async () => {
    const running = await d.emulate!({ host: "127.0.0.1", port: 0 });
    try {
      expect(running.env["KILN_TENSORDOCK_API_URL"]).toBe(`${running.url}/api/v2`);
      const res = await fetch(`${running.env["KILN_TENSORDOCK_API_URL"]}/locations`, { headers: { authorization: `Bearer ${running.env["TENSORDOCK_API_TOKEN"]}` } });
      expect(res.status).toBe(200);
    } finally {
      expect(await running.close()).toEqual({ launched: 0, live: 0 });
    }
  });

  it.skipIf(!existsSync("/usr/bin/curl"))("the watchdog's script deletes the instance with the token from a header file, never on argv; a gone one is success", async () => {
    emu = await startTensordockEmulator({ bootDelayMs: 0, deleteDelayMs: 0 });
    const cloud = await d.configured!(ctx({ TENSORDOCK_API_TOKEN: emu.apiToken, KILN_TENSORDOCK_API_URL: emu.apiUrl }));
    const [offer] = await cloud!.provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, signal());
    const m = await cloud!.provider.launch({ intentId: "wd", offer: offer!, sshPublicKey: PUB }, signal());
    const end = cloud!.endBilling!(m.id);
    expect(end.args).toEqual([emu.apiUrl, m.id]);
    expect(end.args.join(" ")).not.toContain(emu.apiToken);
    const dir = mkdtempSync(join(tmpdir(), "kiln-td-wd-"));
    try {
      writeFileSync(join(dir, "end-billing.sh"), end.script);
      for (const f of end.files) writeFileSync(join(dir, f.name), f.content, { mode: 0o600 });
      await run("sh", [join(dir, "end-billing.sh"), ...end.args], { timeout: 30_000 });
      expect(emu.inspect().map((i) => i.status)).toEqual(["deleted"]);
      // Again, once it is gone (404): still success.
      await run("sh", [join(dir, "end-billing.sh"), ...end.args], { timeout: 30_000 });
      expect(emu.requests.get("DELETE /api/v2/instances/{id}")).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

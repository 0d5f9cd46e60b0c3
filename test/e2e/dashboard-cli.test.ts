// `kiln dashboard` as the user runs it, in-process: it prints the URL (with the token when bound beyond
// loopback), serves until Ctrl-C (the command's abort signal), then closes and exits 0; a bad --port is the
// user's error, with the flag named.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";

const home = mkdtempSync(join(tmpdir(), "kiln-dash-cli-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const env = { ...process.env, KILN_HOME: join(home, "kiln"), KILN_LOG: "warn" };

async function serve(args: string[]): Promise<{ url: string; out: () => string; stop: () => Promise<number> }> {
  const io = captureIo();
  const ac = new AbortController();
  const done = main(["dashboard", ...args], io, { env, cwd: home, signal: ac.signal });
  const url = await pollUntil(async () => /Kiln dashboard: (\S+)/.exec(io.stdout)?.[1], { what: "the dashboard's URL", timeoutMs: 20_000, intervalMs: 50 });
  const stop = async () => {
    ac.abort(new Error("Ctrl-C"));
    return await done;
  };
  return { url, out: () => io.stdout, stop };
}

describe("kiln dashboard", () => {
  it("serves an empty ledger on loopback, says how to start a job, and stops on Ctrl-C", async () => {
    const d = await serve(["--port", "0"]);
    expect(d.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await (await fetch(d.url)).text();
    expect(page).toContain("No jobs in the ledger yet");
    expect(d.out()).toContain("/metrics");
    expect(await d.stop()).toBe(0);
    await expect(fetch(d.url)).rejects.toThrow();
  });

  it("bound beyond loopback, prints a URL with its one-time token and refuses requests without it", async () => {
    const d = await serve(["--port", "0", "--host", "0.0.0.0"]);
    const token = /\?token=([A-Za-z0-9_-]+)/.exec(d.url)?.[1];
    expect(token).toBeDefined();
    expect(d.out()).toContain("every request needs this URL's token");
    const base = d.url.replace("0.0.0.0", "127.0.0.1").replace(/\?token=.*$/, "");
    expect((await fetch(base)).status).toBe(401);
    expect((await fetch(`${base}metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(await d.stop()).toBe(0);
  });

  it("a bad --port is a usage error naming the flag", async () => {
    const io = captureIo();
    expect(await main(["dashboard", "--port", "http"], io, { env, cwd: home })).toBe(2);
    expect(io.stderr).toContain('--port: expected a port number 0-65535, got "http"');
  });
});

// checkHubAccess against a loopback HTTP server standing in for the Hub, answering as the Hub does.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortedError } from "../../base/errors.js";
import { checkHubAccess } from "./hub.js";

let server: Server;
let endpoint: string;
const paths: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    paths.push(`${req.method} ${req.url}`);
    const url = req.url ?? "";
    if (url.startsWith("/slow/")) return; // never answers
    if (url.startsWith("/nobody/")) return void res.writeHead(401, { "x-error-code": "RepoNotFound" }).end();
    if (url.startsWith("/gated/")) return void res.writeHead(req.headers.authorization ? 403 : 401, { "x-error-code": "GatedRepo" }).end();
    if (url.startsWith("/flaky/")) return void res.writeHead(503).end();
    res.writeHead(302, { location: "https://cdn.example/x" }).end();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe("checkHubAccess", () => {
  it("maps the Hub's answers", async () => {
    expect(await checkHubAccess("public/model", { endpoint })).toEqual({ kind: "ok" });
    expect(await checkHubAccess("gated/model", { endpoint })).toEqual({ kind: "no-token" });
    expect(await checkHubAccess("gated/model", { endpoint, token: "t" })).toEqual({ kind: "denied", status: 403 });
    expect(await checkHubAccess("nobody/model", { endpoint })).toEqual({ kind: "not-found" });
    expect(await checkHubAccess("flaky/model", { endpoint })).toEqual({ kind: "unknown", reason: "the Hub answered HTTP 503" });
    expect(paths[0]).toBe("HEAD /public/model/resolve/main/config.json");
  });

  it("is bounded by a deadline, and an unreachable Hub is 'unknown', not a failure", async () => {
    expect(await checkHubAccess("slow/model", { endpoint, timeoutMs: 200 })).toEqual({ kind: "unknown", reason: "the Hub did not answer in time" });
    const down = await checkHubAccess("any/model", { endpoint: "http://127.0.0.1:1" });
    expect(down.kind).toBe("unknown");
  });

  it("stops on the caller's abort instead of answering 'unknown'", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("Ctrl-C")), 50);
    await expect(checkHubAccess("slow/model", { endpoint, timeoutMs: 10_000, signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
  });
});

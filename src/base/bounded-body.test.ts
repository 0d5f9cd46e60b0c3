// The one bounded reader every HTTP answer from outside goes through: a body past the limit is refused by
// its Content-Length before a byte is read, or while it streams (the rest is never sent), and a body under
// the limit reads as usual.
import { afterEach, describe, expect, it } from "vitest";
import { MIB, ResponseTooLarge, readBounded, readBoundedJson, refusedBody } from "./bounded-body.js";
import { type HugeBodyServer, startHugeBodyServer } from "./testing/huge-body-server.js";

let srv: HugeBodyServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

const refusal = (p: Promise<unknown>) => p.then(() => expect.unreachable("expected a refusal"), (e: unknown) => e as ResponseTooLarge);

describe("readBounded", () => {
  it("refuses a body announced past the limit without reading it", async () => {
    srv = await startHugeBodyServer({ bytes: 32 * MIB, declareLength: true });
    const e = await refusal(readBounded(await fetch(srv.url), MIB));
    expect(e).toBeInstanceOf(ResponseTooLarge);
    expect(e).toMatchObject({ status: 200, bytesRead: 0, limit: MIB });
    expect(refusedBody(`the thing at ${srv.url}`, e)).toBe(`the thing at ${srv.url} answered a body of more than 1 MiB (0 bytes read, HTTP 200); refused without reading the rest`);
  });

  it("refuses a chunked body once it passes the limit, and stops the sender", async () => {
    const size = 64 * MIB;
    srv = await startHugeBodyServer({ bytes: size });
    const e = await refusal(readBounded(await fetch(srv.url), 256 * 1024));
    expect(e.message).toMatch(/^a body of more than 256 KiB \(\d+ bytes read, HTTP 200\)$/);
    expect(e.bytesRead).toBeGreaterThan(256 * 1024);
    expect(e.bytesRead).toBeLessThan(256 * 1024 + 128 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    // Socket buffers hold a few MiB at most: nowhere near the whole body went out.
    expect(srv.sent()).toBeLessThan(size / 2);
  });

  it("reads a body under the limit; JSON or not", async () => {
    srv = await startHugeBodyServer({ bytes: 1000 });
    expect(await readBounded(await fetch(srv.url), 1000)).toBe(" ".repeat(1000));
    expect(await readBoundedJson(await fetch(srv.url), 1000)).toEqual({ text: " ".repeat(1000), json: undefined });
  });
});

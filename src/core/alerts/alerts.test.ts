import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AlertQueue } from "./queue.js";
import { postWebhook } from "./webhook.js";

interface Hook {
  url: string;
  bodies: unknown[];
  hits: number;
  server: Server;
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A real webhook on loopback that answers with `statuses` in turn (the last one repeats). */
async function hook(statuses: number[], delayMs = 0): Promise<Hook> {
  const h = { bodies: [] as unknown[], hits: 0 } as Hook;
  h.server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      const status = statuses[Math.min(h.hits, statuses.length - 1)]!;
      h.hits++;
      h.bodies.push(JSON.parse(body));
      setTimeout(() => res.writeHead(status, status === 429 ? { "retry-after": "0.05" } : {}).end("ok"), delayMs);
    });
  });
  servers.push(h.server);
  await new Promise<void>((r) => h.server.listen(0, "127.0.0.1", r));
  h.url = `http://127.0.0.1:${(h.server.address() as AddressInfo).port}/hooks/T000/B000`;
  return h;
}

const fast = { attempts: 4, baseDelayMs: 10, maxDelayMs: 100, requestTimeoutMs: 500, deadlineMs: 5000 };

describe("postWebhook", () => {
  it("posts Slack-compatible JSON", async () => {
    const h = await hook([200]);
    expect(await postWebhook(h.url, { text: "hi" }, fast)).toEqual({ ok: true, attempts: 1 });
    expect(h.bodies).toEqual([{ text: "hi" }]);
  });

  it("retries 5xx and 429, then succeeds", async () => {
    const h = await hook([500, 429, 200]);
    expect(await postWebhook(h.url, { text: "x" }, fast)).toEqual({ ok: true, attempts: 3 });
    expect(h.hits).toBe(3);
  });

  it("does not retry a 4xx", async () => {
    const h = await hook([404]);
    expect(await postWebhook(h.url, { text: "x" }, fast)).toEqual({ ok: false, attempts: 1, error: "HTTP 404" });
    expect(h.hits).toBe(1);
  });

  it("gives up after its attempts on a server that always fails, and on a closed port", async () => {
    const h = await hook([503]);
    expect(await postWebhook(h.url, { text: "x" }, fast)).toMatchObject({ ok: false, attempts: 4, error: "HTTP 503" });
    const r = await postWebhook("http://127.0.0.1:1/hook", { text: "x" }, { ...fast, attempts: 2 });
    expect(r.ok).toBe(false);
  });

  it("times out a hanging server per request", async () => {
    const h = await hook([200], 2000);
    const t0 = Date.now();
    const r = await postWebhook(h.url, { text: "x" }, { ...fast, attempts: 2, requestTimeoutMs: 100 });
    expect(r.ok).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});

describe("AlertQueue", () => {
  it("returns at once, delivers in order in the background, and drops events not enabled", async () => {
    const h = await hook([500, 200], 50);
    const q = new AlertQueue(h.url, new Set(["done", "budget"]), undefined, fast);
    const t0 = Date.now();
    q.send({ event: "budget", jobName: "demo", title: "50% of the budget spent", detail: "$10.00 of $20.00" });
    q.send({ event: "started", jobName: "demo", title: "started" });
    q.send({ event: "done", jobName: "demo", title: "finished" });
    expect(Date.now() - t0).toBeLessThan(20);
    expect(await q.drain(5000)).toBe(true);
    expect(q.results.map((r) => [r.event, r.ok])).toEqual([
      ["budget", true],
      ["done", true],
    ]);
    expect(h.bodies.map((b) => (b as { text: string }).text)).toEqual([
      "💸 kiln job *demo*: 50% of the budget spent\n$10.00 of $20.00",
      "💸 kiln job *demo*: 50% of the budget spent\n$10.00 of $20.00",
      "✅ kiln job *demo*: finished",
    ]);
  });

  it("drain respects its deadline when the webhook hangs", async () => {
    const h = await hook([200], 3000);
    const q = new AlertQueue(h.url, new Set(["failed"]), undefined, { ...fast, requestTimeoutMs: 5000 });
    q.send({ event: "failed", jobName: "demo", title: "failed" });
    expect(await q.drain(100)).toBe(false);
  });
});

// The client's retry policy, pacing and error classification. Time is a fake clock (sleeps advance it
// instantly, and are recorded), so 12-second launch spacing and Retry-After waits take no real time.
// Wire-level behaviour (lost responses, hangs) is tested against the real emulator in faults.test.ts.
import { describe, expect, it } from "vitest";
import { providerRejection as failure } from "./testing/fixtures.js";
import { LambdaClient, type LambdaClientOptions } from "./client.js";
import { classifyLambdaError, isMaybeLaunched } from "./errors.js";
import { type Clock, Pacer, realClock } from "./pacing.js";

const signal = new AbortController().signal;
const KEY = "secret_test_key_0123456789abcdef";

class FakeClock implements Clock {
  t = 1_000_000;
  sleeps: number[] = [];
  now = () => this.t;
  sleep = async (ms: number, s?: AbortSignal) => {
    s?.throwIfAborted();
    this.sleeps.push(ms);
    this.t += ms;
  };
}

type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | Error;

/** A scripted fetch at the outer edge: answers in order, records each request and when it was sent. */
function scriptedFetch(replies: Reply[], clock: FakeClock) {
  const calls: { method: string; url: string; at: number; auth: string | null }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    calls.push({ method: init?.method ?? "GET", url: String(input), at: clock.t, auth: new Headers(init?.headers).get("authorization") });
    const r = replies.shift();
    if (!r) throw new Error("unscripted request");
    if (r instanceof Error) throw r;
    return new Response(JSON.stringify(r.body ?? {}), { status: r.status, headers: { "content-type": "application/json", ...r.headers } });
  };
  return { fetch, calls };
}

function client(replies: Reply[], opts: Partial<LambdaClientOptions> = {}) {
  const clock = new FakeClock();
  const { fetch, calls } = scriptedFetch(replies, clock);
  const c = new LambdaClient({ apiKey: KEY, baseUrl: "http://lambda.test/api/v1", fetch, clock, random: () => 0.5, ...opts });
  return { c, clock, calls };
}

const types = { data: { gpu_1x_a10: { instance_type: { name: "gpu_1x_a10", description: "1x A10", gpu_description: "A10 (24 GB PCIe)", price_cents_per_hour: 75, specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 } }, regions_with_capacity_available: [] } } };
const unavailable = { status: 503, body: { error: { code: "provider/internal-unavailable", message: "Provider unavailable", suggestion: "Try again shortly" } } };
const launchBody = { region_name: "us-west-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["k"] as [string], name: "kiln-i1" };
const refused = () => Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
const reset = () => Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) });


describe("LambdaClient retries", () => {
  it("retries 5xx with exponential backoff and jitter, then succeeds", async () => {
    const { c, clock, calls } = client([unavailable, unavailable, { status: 502 }, { status: 200, body: types }], { minIntervalMs: 0 });
    const t = await c.listInstanceTypes(signal);
    expect(Object.keys(t)).toEqual(["gpu_1x_a10"]);
    expect(calls).toHaveLength(4);
    // Equal jitter with random()=0.5: 3/4 of min(max, base·2^(n-1)).
    expect(clock.sleeps).toEqual([750, 1500, 3000]);
  });

  it("honours Retry-After on 429, and gives up when it exceeds the cap", async () => {
    const r429 = (s: string) => ({ status: 429, headers: { "retry-after": s }, body: { error: { code: "global/rate-limited", message: "slow down" } } });
    const a = client([r429("7"), { status: 200, body: types }], { minIntervalMs: 0 });
    await a.c.listInstanceTypes(signal);
    expect(a.clock.sleeps).toEqual([7000]);

    const b = client([r429("3600")], { minIntervalMs: 0, retryAfterCapMs: 60_000 });
    expect(await failure(b.c.listInstanceTypes(signal))).toMatchObject({ kind: "rate-limited", retryAfterMs: 3_600_000 });
    expect(b.calls).toHaveLength(1);

    // An HTTP-date Retry-After is measured on the client's clock, like every other wait.
    const c = client([r429(new Date(new FakeClock().t + 5_000).toUTCString()), { status: 200, body: types }], { minIntervalMs: 0 });
    await c.c.listInstanceTypes(signal);
    expect(c.clock.sleeps).toEqual([5000]);
  });

  it("stops after maxAttempts and reports the last error", async () => {
    const { c, calls } = client([unavailable, unavailable, unavailable], { minIntervalMs: 0, maxAttempts: 3 });
    expect(await failure(c.listInstances(signal))).toMatchObject({ kind: "transient", status: 503, code: "provider/internal-unavailable", suggestion: "Try again shortly" });
    expect(calls).toHaveLength(3);
  });

  it("never retries a 4xx other than 429", async () => {
    const { c, calls } = client([{ status: 404, body: { error: { code: "global/object-does-not-exist", message: "Specified instance does not exist." } } }]);
    expect(await failure(c.getInstance("abc", signal))).toMatchObject({ kind: "invalid", status: 404 });
    expect(calls).toHaveLength(1);
  });

  it("retries network resets on reads", async () => {
    const { c, calls } = client([reset(), { status: 200, body: { data: [] } }], { minIntervalMs: 0 });
    expect(await c.listInstances(signal)).toEqual([]);
    expect(calls).toHaveLength(2);
  });

  it("stops at once when the caller aborts", async () => {
    const ac = new AbortController();
    ac.abort(new Error("user pressed Ctrl-C"));
    const { c, calls } = client([{ status: 200, body: types }]);
    await expect(c.listInstanceTypes(ac.signal)).rejects.toThrow("user pressed Ctrl-C");
    expect(calls).toHaveLength(0);
  });
});

describe("LambdaClient launch", () => {
  it("never retries a launch whose outcome is unknown (5xx, reset), flagging maybeLaunched", async () => {
    for (const reply of [unavailable, reset()]) {
      const { c, calls } = client([reply, { status: 200, body: { data: { instance_ids: ["x"] } } }], { minIntervalMs: 0, launchIntervalMs: 0 });
      const e = await failure(c.launchInstance(launchBody, signal));
      expect(isMaybeLaunched(e)).toBe(true);
      expect(e).toMatchObject({ kind: "transient", code: "kiln/launch-outcome-unknown", machineName: "kiln-i1" });
      expect(calls).toHaveLength(1);
    }
  });

  it("retries a launch after 429 or a refused connection: nothing was created", async () => {
    const { c, calls } = client([{ status: 429, body: { error: { code: "x", message: "y" } } }, refused(), { status: 200, body: { data: { instance_ids: ["abc"] } } }], { minIntervalMs: 0, launchIntervalMs: 0 });
    expect(await c.launchInstance(launchBody, signal)).toEqual(["abc"]);
    expect(calls).toHaveLength(3);
  });

  it("paces launches 12 s apart and other calls 1 s apart", async () => {
    const ok = { status: 200, body: { data: { instance_ids: ["a"] } } };
    const { c, calls } = client([ok, ok, { status: 200, body: { data: [] } }, { status: 200, body: { data: [] } }]);
    await c.launchInstance(launchBody, signal);
    await c.launchInstance(launchBody, signal);
    await c.listInstances(signal);
    await c.listInstances(signal);
    const at = calls.map((x) => x.at - calls[0]!.at);
    expect(at).toEqual([0, 12_000, 13_000, 14_000]);
  });
});

describe("LambdaClient responses and secrets", () => {
  it("turns a response of the wrong shape into an error naming the field", async () => {
    const bad = structuredClone(types) as { data: Record<string, { instance_type: Record<string, unknown> }> };
    bad.data["gpu_1x_a10"]!.instance_type["price_cents_per_hour"] = "75";
    const { c } = client([{ status: 200, body: bad }]);
    const e = await failure(c.listInstanceTypes(signal));
    expect(e.kind).toBe("fatal");
    expect(e.message).toContain("data.gpu_1x_a10.instance_type.price_cents_per_hour");
  });

  it("sends the key as Bearer and never puts it in an error", async () => {
    const { c, calls } = client([{ status: 401, body: { error: { code: "global/invalid-api-key", message: "API key was invalid, expired, or deleted." } } }]);
    const e = await failure(c.listInstanceTypes(signal));
    expect(calls[0]?.auth).toBe(`Bearer ${KEY}`);
    expect(e).toMatchObject({ kind: "auth", scope: "provider" });
    expect(JSON.stringify({ m: e.message, s: e.suggestion, c: String(e.cause) })).not.toContain(KEY);
    expect(JSON.stringify(c)).not.toContain(KEY);
  });
});

describe("classifyLambdaError", () => {
  it("classifies every error code of the spec", () => {
    const table = [
      [401, "global/invalid-api-key"],
      [403, "global/account-inactive"],
      [403, "global/invalid-address"],
      [400, "instance-operations/launch/insufficient-capacity"],
      [400, "global/quota-exceeded"],
      [400, "global/invalid-parameters"],
      [400, "instance-operations/launch/file-system-in-wrong-region"],
      [404, "global/object-does-not-exist"],
      [400, "global/duplicate"],
      [400, "filesystems/filesystem-in-use"],
      [400, "firewall-rulesets/firewall-ruleset-in-use"],
      [409, "global/internal-error"],
      [503, "provider/internal-unavailable"],
      [429, undefined],
      [500, undefined],
      [400, "global/something-new"],
    ] as const;
    expect(table.map(([s, code]) => `${s} ${code ?? "-"} → ${Object.values(classifyLambdaError(s, code)).join("/")}`)).toMatchInlineSnapshot(`
      [
        "401 global/invalid-api-key → auth/provider",
        "403 global/account-inactive → auth/provider",
        "403 global/invalid-address → auth/provider",
        "400 instance-operations/launch/insufficient-capacity → capacity/region",
        "400 global/quota-exceeded → quota/provider",
        "400 global/invalid-parameters → invalid/none",
        "400 instance-operations/launch/file-system-in-wrong-region → invalid/region",
        "404 global/object-does-not-exist → invalid/none",
        "400 global/duplicate → invalid/none",
        "400 filesystems/filesystem-in-use → invalid/none",
        "400 firewall-rulesets/firewall-ruleset-in-use → invalid/none",
        "409 global/internal-error → transient/none",
        "503 provider/internal-unavailable → transient/none",
        "429 - → rate-limited/none",
        "500 - → transient/none",
        "400 global/something-new → fatal/none",
      ]
    `);
  });
});

describe("Pacer", () => {
  it("queues concurrent callers one interval apart on the real clock", async () => {
    const pacer = new Pacer(40, realClock);
    const t0 = Date.now();
    const at = await Promise.all([0, 1, 2].map(async () => {
      await pacer.wait();
      return Date.now() - t0;
    }));
    at.sort((a, b) => a - b);
    expect(at[1]).toBeGreaterThanOrEqual(38);
    expect(at[2]).toBeGreaterThanOrEqual(78);
  });

  it("stops a paced wait at once with the caller's own abort reason", async () => {
    const pacer = new Pacer(60_000, realClock);
    await pacer.wait(); // takes the first slot; the next is a minute away
    const ac = new AbortController();
    const reason = new Error("user pressed Ctrl-C");
    const t0 = Date.now();
    setTimeout(() => ac.abort(reason), 20);
    await expect(pacer.wait(ac.signal)).rejects.toBe(reason);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

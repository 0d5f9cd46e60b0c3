// `kiln check` and `kiln emulate lambda`, in-process: the emulator runs as the CLI starts it, and
// check talks to it through KILN_LAMBDA_API_URL, as a user rehearsing without an account would.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerProvider, providers } from "../../providers/registry.js";
import { priceTestCloud } from "../../core/planner/testing/offers.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-check-")), KILN_LOG: "silent", ...extra };
  if (!("LAMBDA_API_KEY" in extra)) delete e["LAMBDA_API_KEY"];
  return e;
}
/** The lambda line of `kiln check`'s output (the other clouds' lines change as they become rentable). */
const lambdaLine = (out: string) => out.split("\n").find((l) => l.startsWith("lambda  ")) ?? "";
const scrub = (s: string, url: string, home: string) => s.replaceAll(url, "URL").replaceAll(home, "HOME");

async function withEmulator(args: string[], body: (url: string) => Promise<void>): Promise<string> {
  const io = captureIo();
  const ac = new AbortController();
  const running = main(["emulate", "lambda", ...args], io, { env: env(), signal: ac.signal });
  const deadline = Date.now() + 10_000;
  let url: string | undefined;
  while (url === undefined) {
    url = /listening on (\S+)/.exec(io.stdout)?.[1];
    if (Date.now() > deadline) throw new Error(`emulator did not start: ${io.stderr}`);
    if (url === undefined) await new Promise((r) => setTimeout(r, 20));
  }
  try {
    await body(url);
  } finally {
    ac.abort();
  }
  expect(await running).toBe(0);
  return io.stdout.replaceAll(url, "URL");
}

describe("kiln check / kiln emulate lambda", () => {
  it("validates a good key and rejects a bad one with the next step", async () => {
    const stdout = await withEmulator(["--config", "/dev/null"], async (url) => {
      const good = captureIo();
      expect(await main(["check"], good, { env: env({ KILN_LAMBDA_API_URL: url, LAMBDA_API_KEY: "kiln-emulator-key" }) })).toBe(0);
      expect(lambdaLine(good.stdout).replace(/\d+\.\d\d s\)$/, "N s)")).toMatchInlineSnapshot(
        `"lambda  ok: key from LAMBDA_API_KEY works (6 instance types, 5 with capacity now; cheapest available: gpu_1x_a10 in us-east-1 at $0.75/h) (live, N s)"`,
      );

      const e = env({ KILN_LAMBDA_API_URL: url, LAMBDA_API_KEY: "wrong-key" });
      const bad = captureIo();
      expect(await main(["check"], bad, { env: e })).toBe(1);
      expect(scrub(bad.stderr, url, e["KILN_HOME"]!)).toMatchInlineSnapshot(`
        "error: Lambda rejected the API key from LAMBDA_API_KEY (global/invalid-api-key)
          → create a key at https://cloud.lambda.ai/api-keys, then set LAMBDA_API_KEY or "lambda.api_key" in HOME/credentials.json (mode 0600)
        "
      `);
      expect(bad.stderr + bad.stdout).not.toContain("wrong-key");
    });
    expect(stdout).toMatchInlineSnapshot(`
      "Lambda emulator listening on URL
        try: KILN_LAMBDA_API_URL=URL LAMBDA_API_KEY=kiln-emulator-key kiln check
        Ctrl-C stops it.
      Lambda emulator stopped (0 instances launched, 0 not terminated)
      "
    `);
  });

  it("reads the key from a 0600 credentials file and refuses a readable one", async () => {
    await withEmulator([], async (url) => {
      const e = env({ KILN_LAMBDA_API_URL: url });
      const path = join(e["KILN_HOME"]!, "credentials.json");
      writeFileSync(path, JSON.stringify({ lambda: { api_key: "kiln-emulator-key" } }));
      chmodSync(path, 0o600);
      const ok = captureIo();
      expect(await main(["check"], ok, { env: e })).toBe(0);
      expect(scrub(ok.stdout, url, e["KILN_HOME"]!)).toContain("key from HOME/credentials.json works");
      chmodSync(path, 0o644);
      const refused = captureIo();
      expect(await main(["check"], refused, { env: e })).toBe(1);
      expect(scrub(refused.stderr, url, e["KILN_HOME"]!)).toMatchInlineSnapshot(`
        "error: refusing to read HOME/credentials.json: it is readable by other users (mode 0644)
          → run: chmod 600 HOME/credentials.json
        "
      `);
    });
  });

  it("says when Lambda is not configured", async () => {
    const e = env();
    const io = captureIo();
    expect(await main(["check"], io, { env: e })).toBe(0);
    expect(lambdaLine(io.stdout.replaceAll(e["KILN_HOME"]!, "HOME"))).toMatchInlineSnapshot(
      `"lambda  not configured: set LAMBDA_API_KEY, or put {"lambda": {"api_key": "…"}} in HOME/credentials.json (chmod 600); create one at https://cloud.lambda.ai/api-keys"`,
    );
    // Every cloud has its line: configured or not, or priced from the catalog only (with the catalog's age).
    const names = io.stdout.trim().split("\n").map((l) => l.split("  ")[0]);
    expect(names).toEqual(providers().filter((d) => d.kind === "cloud").map((d) => d.name));
    for (const l of io.stdout.trim().split("\n")) expect(l).toMatch(/^\S+ {2}(not configured: |ok: |catalog only: \d+ dated rows? \(2025-10-30, \d+ days old\); Kiln cannot query it yet$)/);
  });

  it("serves a configured account and reports bad config by field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-emu-"));
    const cfg = join(dir, "emu.yaml");
    writeFileSync(cfg, "apiKeys: [k1]\nrateLimit: false\ninstanceTypes:\n  - {name: gpu_1x_a100, description: x, gpu_description: A100 (40 GB PCIe), price_cents_per_hour: 99, specs: {vcpus: 1, memory_gib: 1, storage_gib: 1, gpus: 1}, capacity: {us-east-1: 1}}\n");
    await withEmulator(["--config", cfg], async (url) => {
      const io = captureIo();
      expect(await main(["check"], io, { env: env({ KILN_LAMBDA_API_URL: url, LAMBDA_API_KEY: "k1" }) })).toBe(0);
      expect(io.stdout).toContain("gpu_1x_a100 in us-east-1 at $0.99/h");
    });
    writeFileSync(cfg, "bootDelayMs: soon\nsurprise: 1\n");
    const io = captureIo();
    expect(await main(["emulate", "lambda", "--config", cfg], io, { env: env() })).toBe(2);
    expect(io.stderr.replaceAll(cfg, "CFG")).toMatchInlineSnapshot(`
      "error: emulator config CFG is invalid:
        bootDelayMs: Invalid input: expected number, received string
        (top): Unrecognized key: "surprise"
        → see \`kiln emulate --help\` for the fields
      "
    `);
  });

  it("asks every cloud at once, each under a deadline: a hanging one is reported and holds up none of the others", async () => {
    const gone = [registerProvider(priceTestCloud("stuckcloud", "hang")), registerProvider(priceTestCloud("quickcloud", { delayMs: 0 }))];
    try {
      const io = captureIo();
      expect(await main(["check", "--deadline", "0.3"], io, { env: env() })).toBe(0);
      expect(io.stdout).toMatch(/^stuckcloud {2}no answer within 0\.3 s \(the rest were not held up\); try again, or raise --deadline$/m);
      expect(io.stdout).toMatch(/^quickcloud {2}ok: quickcloud answers \(live, \d+\.\d\d s\)$/m);
      expect(io.stdout).toMatch(/^lambda {2}not configured: /m);
    } finally {
      for (const g of gone) g();
    }
  });
});

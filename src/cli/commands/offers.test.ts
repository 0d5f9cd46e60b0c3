import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { priceTestCloud } from "../../core/planner/testing/offers.js";
import { registerProvider } from "../../providers/registry.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

async function kiln(...argv: string[]) {
  return kilnWith({}, ...argv);
}

/** `kiln offers` with extra env; a developer's own LAMBDA_API_KEY never leaks into the test. */
async function kilnWith(extra: Record<string, string>, ...argv: string[]) {
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-offers-")), KILN_LOG: "warn", ...extra };
  if (!("LAMBDA_API_KEY" in extra)) delete env["LAMBDA_API_KEY"];
  const code = await main(argv, io, { env });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe("kiln offers", () => {
  it("prices the runbook's A100 40GB run against the Lambda baseline, and says where each price came from", async () => {
    const r = await kiln("offers", "--gpu", "a100-40", "--hours", "12");
    expect(r.code).toBe(0);
    // Rows that the runbook fixes (the other clouds' rows are being corrected by their own helpers).
    const row = (p: string, t: string) => r.stdout.split("\n").find((l) => l.startsWith(`${p} `) && l.includes(` ${t} `))?.split(/\s{2,}/);
    expect(row("lambda", "gpu_1x_a100")).toEqual(["lambda", "gpu_1x_a100", "A100-40GB", "40GB", "$1.29", "$15.48", "0%", "—", "catalog 2025-10-30 (runbook.md price table)"]);
    expect(r.stdout).toMatch(/^Baseline: lambda gpu_1x_a100 at \$1\.29\/h \(cheapest reliable on-demand offer\)\.$/m);
    // No key anywhere: every row is catalog, and the footer says so per provider, with the catalog's age.
    const rows = r.stdout.split("\n\n")[0]!.split("\n").slice(1);
    expect(rows.every((l) => / catalog \d{4}-\d\d-\d\d /.test(l))).toBe(true);
    expect(r.stdout).toMatch(/^Prices:\n( {2}[a-z, ]+: catalog 2025-10-30 \(\d+ days old\); (not configured \(`kiln check` says how\)|Kiln cannot ask them for prices yet)\n)+Catalog prices are dated/m);
  });
});

describe("kiln offers: every configured provider at once, each under a deadline", () => {
  it("shows a hanging provider's catalog rows as catalog, the others' live rows as live, and does not wait for it", async () => {
    const gone = [
      registerProvider(priceTestCloud("stuckcloud", "hang")),
      registerProvider(priceTestCloud("quickcloud", { delayMs: 0 })),
      registerProvider(priceTestCloud("brokencloud", { fail: "HTTP 503 from the API" })),
      registerProvider(priceTestCloud("slowsetupcloud", { delayMs: 0 }, { setupHangs: true })),
    ];
    try {
      const r = await kiln("offers", "--gpu", "A100-40GB", "--deadline", "0.3");
      expect(r.code).toBe(0);
      const cells = (p: string) => r.stdout.split("\n").find((l) => l.startsWith(`${p} `))?.split(/\s{2,}/);
      expect(cells("quickcloud")?.slice(-1)).toEqual(["live, capacity in quickcloud-1"]);
      expect(cells("stuckcloud")?.slice(-1)).toEqual(["catalog 2025-10-30 (test catalog)"]);
      expect(cells("brokencloud")?.slice(-1)).toEqual(["catalog 2025-10-30 (test catalog)"]);
      expect(r.stdout).toMatch(/^ {2}quickcloud: live, 1 offer in \d+\.\d\d s at \d\d:\d\d:\d\d UTC \(emulated\)$/m);
      expect(r.stdout).toMatch(/^ {2}stuckcloud: no answer within 0\.3 s; its catalog rows stand in \(marked catalog\)$/m);
      expect(r.stdout).toMatch(/^ {2}brokencloud: live prices failed after \d+\.\d\d s \(HTTP 503 from the API\); its catalog rows stand in \(marked catalog\)$/m);
      expect(r.stderr).toMatch(/stuckcloud: live prices unavailable \(no answer within 0\.3 s\); using the catalog/);
      // An account that never finishes setting up (a credentials chain waiting on a metadata service) is bounded too.
      expect(cells("slowsetupcloud")?.slice(-1)).toEqual(["catalog 2025-10-30 (test catalog)"]);
      expect(r.stdout).toMatch(/^ {2}slowsetupcloud: its account was not set up within 0\.3 s; its catalog rows stand in \(marked catalog\)$/m);

      const j = await kiln("offers", "--gpu", "A100-40GB", "--deadline", "0.3", "--json");
      const out = JSON.parse(j.stdout) as { offers: { provider: string; priceSource: string }[]; prices: { answers: { provider: string; status: string; ms: number; at: string }[]; catalogDate: string } };
      expect(out.prices.answers.map((a) => [a.provider, a.status])).toEqual(expect.arrayContaining([["quickcloud", "live"], ["stuckcloud", "timeout"], ["brokencloud", "failed"]]));
      expect(out.offers.filter((o) => o.provider === "quickcloud").map((o) => o.priceSource)).toEqual(["live"]);
      expect(out.offers.filter((o) => o.provider === "stuckcloud").map((o) => o.priceSource)).toEqual(["catalog"]);
    } finally {
      for (const g of gone) g();
    }
  });
});

describe("kiln offers: options and errors", () => {
  it("adds spot rows with --spot and filters by provider", async () => {
    const filtered = await kiln("offers", "--provider", "aws,lambda", "--hours", "10");
    const rows = (out: string) => out.split("\n\n")[0]!.split("\n").slice(1);
    expect(rows(filtered.stdout).every((l) => /^(aws|lambda) /.test(l))).toBe(true);
    const plain = await kiln("offers", "--hours", "10");
    const spot = await kiln("offers", "--spot", "--hours", "10");
    expect(plain.code).toBe(0);
    expect(spot.code).toBe(0);
    expect(rows(plain.stdout).some((l) => l.includes("(spot)"))).toBe(false);
    const spots = rows(spot.stdout).filter((l) => l.includes("(spot)"));
    expect(spots.length).toBeGreaterThan(0);
    expect(rows(spot.stdout).length).toBe(rows(plain.stdout).length + spots.length);
    // The clouds that sell no spot say so with --spot (and only then), so their missing spot rows are explained.
    expect(spot.stdout).toMatch(/^No spot on thunder: Thunder Compute sells no spot machines/m);
    expect(spot.stdout).toMatch(/^No spot on lambda: /m);
    expect(plain.stdout).not.toContain("No spot on");
    const awsOnly = await kiln("offers", "--spot", "--provider", "aws");
    expect(awsOnly.stdout).not.toContain("No spot on");
  });

  it("prints JSON Offer objects with their source", async () => {
    const r = await kiln("offers", "--gpu", "H100", "--min-vram", "80", "--json");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { hours: number; offers: { provider: string; gpu: string; priceSource: string; priceDate: string; source: string }[] };
    expect(out.hours).toBe(12);
    expect(out.offers.length).toBeGreaterThan(3);
    expect(out.offers.every((o) => o.gpu === "H100-80GB" && o.priceSource === "catalog" && o.priceDate === "2025-10-30" && o.source !== "")).toBe(true);
  });

  it("names an unknown GPU and lists the known ones", async () => {
    const r = await kiln("offers", "--gpu", "TPUv5");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: unknown GPU "TPUv5"\n {2}→ known GPUs: H200-141GB, GH200-96GB, H100-80GB/);
  });

  it("rejects a non-numeric --hours and an unknown provider", async () => {
    expect((await kiln("offers", "--hours", "ten")).stderr).toBe('error: --hours: expected a positive number, got "ten"\n');
    const r = await kiln("offers", "--provider", "lamda");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--provider: unknown provider "lamda"/);
  });

  it("compares each GPU with its own baseline when the list mixes GPUs", async () => {
    const r = await kiln("offers", "--gpu", "A100-40GB,H100");
    expect(r.code).toBe(0);
    const cols = (p: string, t: string) => r.stdout.split("\n").find((l) => l.startsWith(`${p} `) && l.includes(t))?.split(/\s{2,}/);
    expect(cols("lambda", "gpu_1x_a100")?.[6]).toBe("0%");
    expect(cols("lambda", "gpu_1x_h100_pcie")?.[6]).toBe("0%");
    expect(cols("thunder", "h100")?.[6]).toBe("-41%");
    expect(r.stdout).toMatch(/^vs base: against the cheapest reliable on-demand offer of the same GPU\.$/m);
  });

  it("says how to loosen a query that matches nothing", async () => {
    const r = await kiln("offers", "--gpu", "4090", "--min-vram", "48");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^No offers match/);
  });
});

describe("kiln offers with a Lambda key: live prices and capacity", () => {
  let emu: LambdaEmulator;
  beforeAll(async () => {
    emu = await startLambdaEmulator({ rateLimit: false });
  });
  afterAll(() => emu.close());

  it("replaces Lambda's catalog rows with the API's prices and says where capacity is", async () => {
    const r = await kilnWith({ LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url }, "offers", "--gpu", "A100-40GB", "--provider", "lambda,tensordock");
    expect(r.code).toBe(0);
    const lambda = r.stdout.split("\n").filter((l) => l.startsWith("lambda "));
    // The emulator's default account: gpu_1x_a100 in three regions (one row), the SXM4 variant in one.
    expect(lambda.map((l) => l.split(/\s{2,}/))).toEqual([
      ["lambda", "gpu_1x_a100", "A100-40GB", "40GB", "$1.29", "$15.48", "0%", "—", "live, capacity in us-east-1, us-south-1, us-west-1"],
      ["lambda", "gpu_1x_a100_sxm4", "A100-40GB", "40GB", "$1.29", "$15.48", "0%", "—", "live, capacity in us-east-1"],
    ]);
    expect(r.stdout).toMatch(/^tensordock .*catalog \d{4}-\d\d-\d\d/m);
    // Lambda answered: its catalog rows are gone, not shown beside the live ones; the footer dates the answer.
    expect(r.stdout).not.toMatch(/^lambda .*catalog/m);
    expect(r.stdout).toMatch(/^ {2}lambda: live, \d+ offers in \d+\.\d\d s at \d\d:\d\d:\d\d UTC \(emulated\)$/m);
    expect(r.stdout + r.stderr).not.toContain(emu.apiKey);
  });

  it("falls back to the catalog with a warning when Lambda refuses the key", async () => {
    const r = await kilnWith({ LAMBDA_API_KEY: "wrong-key", KILN_LAMBDA_API_URL: emu.url }, "offers", "--gpu", "A100-40GB", "--provider", "lambda");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^lambda +gpu_1x_a100 .*catalog 2025-10-30/m);
    expect(r.stderr).toMatch(/lambda: live prices unavailable .*using the catalog/);
    expect(r.stderr).not.toContain("wrong-key");
  });

  it("does not ask Lambda when --provider leaves it out", async () => {
    const before = emu.requests.length;
    const r = await kilnWith({ LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url }, "offers", "--provider", "aws");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(emu.requests.length).toBe(before);
  });
});

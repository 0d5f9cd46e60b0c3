import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
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
  it("prices the runbook's A100 40GB run against the Lambda baseline", async () => {
    const r = await kiln("offers", "--gpu", "a100-40", "--hours", "12");
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\(\d+ days old\)/, "(N days old)")).toMatchInlineSnapshot(`
      "provider    instance type          gpu        vram    $/h  cost 12h  vs base  spot $/h  price source
      thunder     a100-40gb              A100-40GB  40GB  $0.66     $7.92     -49%         —  catalog 2025-10-30 (runbook.md price table)
      tensordock  a100-pcie-40gb         A100-40GB  40GB  $0.75     $9.00     -42%         —  catalog 2025-10-30 (runbook.md price table)
      lambda      gpu_1x_a100            A100-40GB  40GB  $1.29    $15.48       0%         —  catalog 2025-10-30 (runbook.md price table)
      runpod      NVIDIA A100-PCIE-40GB  A100-40GB  40GB  $1.39    $16.68      +8%     $0.69  catalog 2025-10-30 (runbook.md alternatives)
      northflank  nvidia-a100-40gb       A100-40GB  40GB  $1.42    $17.04     +10%         —  catalog 2025-10-30 (runbook.md price table)
      aws         p4d.xlarge             A100-40GB  40GB  $3.02    $36.24    +134%     $1.20  catalog 2025-10-30 (runbook.md price table)
      azure       NC24ads_A100_v4        A100-40GB  40GB  $3.40    $40.80    +164%     $1.36  catalog 2025-10-30 (runbook.md price table)
      gcp         a2-highgpu-1g          A100-40GB  40GB  $3.67    $44.04    +184%     $1.47  catalog 2025-10-30 (runbook.md price table)

      Baseline: lambda gpu_1x_a100 at $1.29/h (cheapest reliable on-demand offer).
      Catalog prices are from 2025-10-30 (N days old); check them before a long run, live prices replace them once a provider is configured.
      "
    `);
  });
});

describe("kiln offers: options and errors", () => {
  it("adds spot rows with --spot and filters by provider", async () => {
    const r = await kiln("offers", "--gpu", "A100-40GB", "--spot", "--provider", "aws,lambda", "--hours", "10");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n").filter((l) => /^(aws|lambda) /.test(l));
    expect(lines.map((l) => l.split(/\s{2,}/).slice(0, 6))).toEqual([
      ["aws", "p4d.xlarge (spot)", "A100-40GB", "40GB", "$1.20", "$12.00"],
      ["lambda", "gpu_1x_a100", "A100-40GB", "40GB", "$1.29", "$12.90"],
      ["aws", "p4d.xlarge", "A100-40GB", "40GB", "$3.02", "$30.20"],
    ]);
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
    const r = await kilnWith({ LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url }, "offers", "--gpu", "A100-40GB", "--provider", "lambda,aws");
    expect(r.code).toBe(0);
    const lambda = r.stdout.split("\n").filter((l) => l.startsWith("lambda "));
    // The emulator's default account: gpu_1x_a100 in three regions (one row), the SXM4 variant in one.
    expect(lambda.map((l) => l.split(/\s{2,}/))).toEqual([
      ["lambda", "gpu_1x_a100", "A100-40GB", "40GB", "$1.29", "$15.48", "0%", "—", "live, capacity in us-east-1, us-south-1, us-west-1"],
      ["lambda", "gpu_1x_a100_sxm4", "A100-40GB", "40GB", "$1.29", "$15.48", "0%", "—", "live, capacity in us-east-1"],
    ]);
    expect(r.stdout).toMatch(/^aws .*catalog 2025-10-30/m);
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

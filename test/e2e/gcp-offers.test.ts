// `kiln offers` with GCE configured (against its emulator): GCE's rows are live, priced from the emulated
// Cloud Billing Catalog API's SKUs, and the footer says GCE answered live; with the Billing Catalog failing,
// GCE's rows are its dated catalog, marked catalog, the footer counts them as priced from its catalog, and
// a warning says why. The Compute SDK is never loaded for this (offers call no Compute method).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type GcpEmulator, startGcpEmulator } from "../../src/providers/gcp/emulator.js";
import { SKUS_PATH } from "../../src/providers/gcp/emulator/billing.js";

let emu: GcpEmulator;
let dir: string;
beforeAll(async () => {
  emu = await startGcpEmulator({ bootDelayMs: 20 });
  dir = mkdtempSync(join(tmpdir(), "kiln-gcp-offers-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

async function offers(...argv: string[]) {
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: mkdtempSync(join(dir, "home-")), KILN_LOG: "warn", KILN_GCP_API_URL: emu.url, KILN_GCP_TOKEN: emu.token, GOOGLE_CLOUD_PROJECT: emu.project };
  const code = await main(["offers", ...argv], io, { env });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const gcpRows = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("gcp ")).map((l) => l.split(/\s{2,}/));

describe("kiln offers with GCE configured", () => {
  it("GCE's rows are live from the Billing Catalog's SKUs, and the footer says GCE answered live", async () => {
    const r = await offers("--gpu", "A100-40GB", "--provider", "gcp");
    expect(r.code).toBe(0);
    const rows = gcpRows(r.stdout);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((cells) => /^live/.test(cells.at(-1)!))).toBe(true);
    // The Americas zones at the SKUs' sum ($3.67 on demand), Europe's 10 % dearer.
    expect(rows.find((c) => c[1] === "a2-highgpu-1g" && c[4] === "$3.67")?.at(-1)).toMatch(/^live, capacity in us-central1-a, us-central1-c, us-east1-b$/);
    expect(rows.some((c) => c[1] === "a2-highgpu-1g" && c[4] === "$4.04")).toBe(true);
    expect(r.stdout).not.toMatch(/^gcp .*catalog/m);
    expect(r.stdout).toMatch(/^ {2}gcp: live, \d+ offers in \d+\.\d\d s at \d\d:\d\d:\d\d UTC \(emulated\)$/m);
    expect(r.stderr).toBe("");
  });

  it("the Billing Catalog down: GCE's rows are its dated catalog, marked so, counted so in the footer, and a warning says why", async () => {
    emu.inject({ kind: "error-5xx", match: { path: SKUS_PATH } });
    try {
      const r = await offers("--gpu", "A100-40GB", "--provider", "gcp");
      expect(r.code).toBe(0);
      const rows = gcpRows(r.stdout);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((cells) => /^catalog 2025-10-30/.test(cells.at(-1)!))).toBe(true);
      expect(r.stdout).toMatch(/^ {2}gcp: live, (\d+) offers \(0 live-priced, \1 priced from its catalog\) in \d+\.\d\d s at \d\d:\d\d:\d\d UTC \(emulated\)$/m);
      expect(r.stderr).toContain("GCE live prices are unavailable (the Cloud Billing Catalog API answered HTTP 503 (UNAVAILABLE: Backend Error)); the dated catalog (2025-10-30) stands in, marked catalog");
    } finally {
      emu.clearFaults();
    }
  });
});

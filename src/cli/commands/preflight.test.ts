import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeNvidiaSmiEnv } from "../../core/gpu/testing/fake-nvidia-smi.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");

async function preflight(fixture: string, ...argv: string[]) {
  const io = captureIo();
  const env = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-preflight-")), ...fakeNvidiaSmiEnv(fixture) };
  const code = await main(["preflight", ...argv], io, { env, cwd: ROOT });
  return { code, out: io.stdout + io.stderr };
}

describe("kiln preflight: the runbook's decision matrix (40 GB need)", () => {
  it.each([
    ["a100-40gb", 0, "local: NVIDIA A100-SXM4-40GB has 42.3 GB free ≥ 40.0 GB needed: use it, no cloud cost (need from the runbook's Llama-3.1-8B job)\n"],
    ["a100-80gb", 0, "local: NVIDIA A100 80GB PCIe has 85.0 GB free ≥ 40.0 GB needed: use it, no cloud cost (need from the runbook's Llama-3.1-8B job)\n"],
    ["h100", 0, "local: NVIDIA H100 80GB HBM3 has 84.9 GB free ≥ 40.0 GB needed: use it, no cloud cost (need from the runbook's Llama-3.1-8B job)\n"],
    ["two-gpus", 0, "local: NVIDIA A100-SXM4-80GB has 84.9 GB free ≥ 40.0 GB needed: use it, no cloud cost (need from the runbook's Llama-3.1-8B job)\n"],
    [
      "rtx-4090",
      3,
      "risky: NVIDIA GeForce RTX 4090 has 23.9 GB free of 25.8 GB, 64% of 40.0 GB needed: try locally with memory savers, fall back to cloud on OOM (need from the runbook's Llama-3.1-8B job)\n  → memory savers: model_dtype: bf16, a smaller batch_size with gradient_accumulation_steps, activation_cache: disk, fewer latents (expansion_factor)\n",
    ],
    ["rtx-3060", 4, "cloud: NVIDIA GeForce RTX 3060 has 12.9 GB, < 60% of 40.0 GB needed; rent a cloud GPU with ≥ 40.0 GB (need from the runbook's Llama-3.1-8B job)\n"],
    ["none", 4, "cloud: no NVIDIA GPU (nvidia-smi not found); rent a cloud GPU with ≥ 40.0 GB (need from the runbook's Llama-3.1-8B job)\n"],
    [
      "driver-mismatch",
      4,
      "cloud: nvidia-smi failed; rent a cloud GPU with ≥ 40.0 GB (need from the runbook's Llama-3.1-8B job)\n  → Failed to initialize NVML: Driver/library version mismatch — the NVIDIA kernel module and user-space library versions differ (usually after a driver upgrade): reboot\n",
    ],
    [
      "old-driver",
      4,
      "cloud: NVIDIA A100-SXM4-40GB's driver 470.256.02 supports only CUDA 11.4; rent a cloud GPU with ≥ 40.0 GB (need from the runbook's Llama-3.1-8B job)\n  → update the NVIDIA driver to one supporting CUDA 12 (≥ 525) to use this GPU\n",
    ],
  ])("%s → exit %i", async (fixture, code, out) => {
    const r = await preflight(fixture);
    expect(r.out).toBe(out);
    expect(r.code).toBe(code);
  });

  it("uses a job's estimate, and picks the CPU for the small demo", async () => {
    const demo = await preflight("none", "examples/sae-pii-local.yaml");
    expect(demo.code).toBe(0);
    expect(demo.out).toMatch(/^cpu: no NVIDIA GPU \(nvidia-smi not found\); the job is small enough for the CPU \(need from examples\/sae-pii-local\.yaml estimate\)/);
    const llama = await preflight("rtx-4090", "examples/llama-8b-sae-pii.yaml");
    expect(llama.out).toMatch(/^local: NVIDIA GeForce RTX 4090 has 23\.9 GB free ≥ 16\.5 GB needed/);
  });

  it("takes --need-vram and prints JSON", async () => {
    const r = await preflight("rtx-4090", "--need-vram", "30", "--json");
    expect(r.code).toBe(3);
    const out = JSON.parse(r.out) as { verdict: string; need: { vramGb: number }; probe: { kind: string; gpus: unknown[] } };
    expect(out).toMatchObject({ verdict: "risky", need: { vramGb: 30 }, probe: { kind: "ok" } });
    expect((await preflight("none", "--need-vram", "lots")).out).toBe('error: --need-vram: expected a positive number, got "lots"\n');
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { fakeNvidiaSmiEnv } from "../../core/gpu/testing/fake-nvidia-smi.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");

/** Run kiln in-process from the repo root with nvidia-smi serving `fixture` ("none": absent). */
async function kiln(fixture: string, ...argv: string[]) {
  return kilnWith({}, fixture, ...argv);
}

/** The same with extra env; a developer's own LAMBDA_API_KEY never reaches the tests. */
async function kilnWith(extra: Record<string, string>, fixture: string, ...argv: string[]) {
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-plan-")), ...fakeNvidiaSmiEnv(fixture), ...extra };
  if (!("LAMBDA_API_KEY" in extra)) delete env["LAMBDA_API_KEY"];
  const code = await main(argv, io, { env, cwd: ROOT });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/** A job file in a temp dir: the reference Llama job with `edit` applied to its text. */
function llamaJob(edit: (yaml: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-plan-job-"));
  const text = edit(
    `name: llama
resources: {gpu: [A100-40GB, A100-80GB], providers: [local, lambda]}
budget: {max_usd: 20}
workload:
  type: sae-pii
  sae: {base_model: meta-llama/Llama-3.1-8B, layer: 12, latents: 32768, k: 64, epochs: 10,
        dataset: {name: lmsys/lmsys-chat-1m, subset_size: 100000}}
`,
  );
  writeFileSync(join(dir, "job.yaml"), text);
  return join(dir, "job.yaml");
}

describe("kiln plan", () => {
  it("plans the reference Llama job on Lambda when there is no local GPU", async () => {
    const r = await kiln("none", "plan", "examples/llama-8b-sae-pii.yaml");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // The checks `kiln run` makes before launch follow the plan (the bundle's size and hash vary with workload/).
    const [planText, checksText] = r.stdout.split("\nChecks before launch:\n");
    expect(checksText).toMatch(/^ {2}ok {3}spec .*valid \(job llama-8b-sae-pii, sae-pii\)\n {2}-- {3}inputs .*Hugging Face dataset.*\n {2}ok {3}bundle .*\(job \+ workload\).*secret-scanned.*\n {2}ok {3}credentials lambda: not configured.*\n {2}ok {3}budget .*\$2\.21 within budget\.max_usd \$20\.00\n$/);
    expect(planText).toMatchInlineSnapshot(`
      "Job llama-8b-sae-pii: SAE on meta-llama/Llama-3.1-8B layer 12 (d=4096, 32768 latents, k=64)
      Memory: ~16.5 GB per GPU = weights 6.7 + SAE & Adam 4.3 + activations 2.6 + overhead 2.9
      Work: SAE 541,500,000 tokens (10 epochs × 100,000 records × 570 tokens (LMSYS-Chat-1M: ~570 tokens per conversation) × 95% train split) × 0.271 GFLOP/token at 20% MFU
            LM forward 57,000,000 tokens (train + val) × 5.7 GFLOP/token at 50% MFU: once when the activation cache holds them, every epoch when it streams
      Activation cache: 444 GB (54,150,000 train tokens × d 4096 × 2 B bf16), activation_cache auto: in RAM if under half of it, else on disk, else streamed
      Learning rate: auto: 0.000141 for 132203 steps of 4096 tokens, n=32768, k=64, d=4096 (calibrated rule 6.05e-05, docs/learning-rate.md; raised to the long-run floor 2e-4/sqrt(n/2^14) = 0.000141)
      Local GPU: none (nvidia-smi not found)

         option                        gpu          $/h  extract  SAE     time   est. cost  cache     note
      →  lambda gpu_1x_a100            A100-40GB  $1.29  42 min   45 min  1.5 h      $2.21  disk      catalog 2025-10-30
         lambda gpu_1x_a100_sxm4_80gb  A100-80GB  $1.79  5.5 h    41 min  6.2 h     $11.61  stream!*  catalog 2025-10-30
      cache: where the activations live on that machine (memory, disk, or stream: no room, the LM forward every epoch); * RAM and disk assumed (the offer does not say); ! will not fit there

      Choice: lambda gpu_1x_a100 — lowest expected total cost within the budget
              ~1.5 h (extraction 42 min, SAE 45 min), ~$2.21 incl. 15 min boot, budget $20.00
              activation cache: 444 GB, on disk — over half the RAM (107 GB), fits the disk (494 GB free) (catalog: 215 GB RAM, 520 GB of disk for the job)
      Cap: at the cap with no client: checkpoint and stop the run; the machine keeps billing until a client saves the outputs and ends it (on_cap_offline: keep-data)
      Warning: spend can pass budget.max_usd while no client answers: add artifacts.store to end billing at the cap without losing the outputs (Lambda file systems would survive termination, but Kiln does not attach one yet)
      Saving: early stopping is on: if it stops halfway (the runbook's TUMIX saved 51%) the run costs ~$0.49 less
      "
    `);
  });

  it("stays local when the local GPU fits, and marks it chosen", async () => {
    const r = await kiln("a100-80gb", "plan", "examples/llama-8b-sae-pii.yaml");
    expect(r.code).toBe(0);
    // extract, SAE and total time, then where the cache goes: this machine's RAM and disk decide, so any.
    expect(r.stdout).toMatch(/^→ {2}local #0 NVIDIA A100 80GB PCIe +A100-80GB +\$0\.00( +\d+(\.\d)? (h|min)){3} +\$0\.00 +(memory|disk|stream)!? +free$/m);
    expect(r.stdout).toMatch(/^Choice: local #0 NVIDIA A100 80GB PCIe — a local GPU has enough free memory: no cloud cost$/m);
  });

  it("goes to the cloud when the local GPU is too small, saying why", async () => {
    const r = await kiln("rtx-3060", "plan", "examples/llama-8b-sae-pii.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/local #0 NVIDIA GeForce RTX 3060 .* 12\.\d GB free < 16\.5 GB needed/);
    expect(r.stdout).toMatch(/^Choice: lambda gpu_1x_a100\S* /m);
  });

  it("points out a local GPU in the runbook's risky band", async () => {
    const r = await kiln("rtx-4090", "plan", llamaJob((y) => y.replace("providers: [local, lambda]}", "providers: [local, lambda], min_vram_gb: 30}")));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Choice: lambda gpu_1x_a100\S* /m);
    expect(r.stdout).toMatch(/^Note: the local NVIDIA GeForce RTX 4090 has 86% of the memory needed; with memory savers \(model_dtype: bf16, .*\) it may fit and save ~\$\d+\.\d\d$/m);
  });

  it("runs the demo on the CPU when there is no GPU", async () => {
    const r = await kiln("none", "plan", "examples/sae-pii-local.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Choice: local CPU — small enough for the CPU/m);
  });

  it("refuses a job whose estimate exceeds the budget, naming both numbers", async () => {
    const r = await kiln("none", "plan", llamaJob((y) => y.replace("max_usd: 20", "max_usd: 1")));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Refused: /m);
    expect(r.stderr).toMatch(
      /^error: the cheapest fitting offer \(lambda gpu_1x_a100\S*, ~\d+\.\d h\) is estimated at \$\d+\.\d\d, over budget\.max_usd \$1\.00\n {2}→ raise budget\.max_usd/,
    );
  });

  it("suggests spot when a cheaper spot offer exists and spot is off", async () => {
    const r = await kiln("none", "plan", llamaJob((y) => y.replace("providers: [local, lambda]", "providers: [aws, gcp]").replace("max_usd: 20", "max_usd: 40")));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Saving: spot on aws p4d\.xlarge would cost ~\$\d+\.\d\d \(save ~\$\d+\.\d\d\); set resources\.spot: allowed/m);
    expect(r.stdout).toMatch(/^Saving: set workload\.sae\.early_stopping to save up to/m);
  });

  it("prints the plan as JSON for scripts", async () => {
    const r = await kiln("none", "plan", "examples/llama-8b-sae-pii.yaml", "--json");
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.stdout) as {
      job: string;
      choice: { kind: string; offer: { provider: string; instanceType: string; gpu: string } };
      estimate: { vramGb: number; hoursByGpu: Record<string, number>; detail: { cache: { sizeGb: number; mode: string } } };
      considered: { chosen: boolean; hours: number; time: { extractionHours: number; saeHours: number; cache: { location: string; sizeGb: number; machine: { basis: string } } } }[];
    };
    expect(plan.job).toBe("llama-8b-sae-pii");
    expect(plan.choice.kind).toBe("offer");
    expect(plan.choice.offer).toMatchObject({ provider: "lambda" });
    expect(plan.choice.offer.gpu).toMatch(/^A100-/);
    // The split and the cache's place, per option, as the text shows them.
    const chosen = plan.considered.find((o) => o.chosen)!;
    expect(chosen.time.extractionHours + chosen.time.saeHours).toBeCloseTo(chosen.hours, 9);
    expect(["memory", "disk", "stream"]).toContain(chosen.time.cache.location);
    expect(chosen.time.cache.sizeGb).toBeCloseTo(plan.estimate.detail.cache.sizeGb, 9);
    expect(plan.estimate.detail.cache.mode).toBe("auto");
    expect(plan.estimate.vramGb).toBeGreaterThan(10);
    expect(plan.estimate.hoursByGpu["H100-80GB"]).toBeLessThan(plan.estimate.hoursByGpu["A100-40GB"]!);
  });

  it("reports spec problems and missing files as exit code 2", async () => {
    const bad = await kiln("none", "plan", llamaJob((y) => y.replace("layer: 12", "layer: 40")));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: workload.sae.layer: meta-llama/Llama-3.1-8B has 32 blocks (0..31), got 40\n");
    const missing = await kiln("none", "plan", "nope.yaml");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: job spec not found: .*nope\.yaml/);
    expect((await kiln("none", "plan")).code).toBe(2);
  });
});

describe("kiln plan with a Lambda key", () => {
  it("prices Lambda from its live offers, as kiln run will", async () => {
    const emu = await startLambdaEmulator({ rateLimit: false });
    try {
      const r = await kilnWith({ LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url }, "none", "plan", "examples/llama-8b-sae-pii.yaml");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const lambdaRows = r.stdout.split("\n").filter((l) => /^(→ )? *lambda /.test(l));
      expect(lambdaRows.length).toBeGreaterThan(0);
      expect(lambdaRows.every((l) => / live, capacity in us-[a-z]+-\d$/.test(l))).toBe(true);
      expect(lambdaRows[0]).toMatch(/^→ +lambda gpu_1x_a100 +A100-40GB +\$1\.29 .* live, capacity in us-east-1$/);
      expect(emu.requests.some((q) => q.path.endsWith("/instance-types"))).toBe(true);
    } finally {
      await emu.close();
    }
  });
});

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
  it("plans the reference Llama job over every GPU on every listed cloud when there is no local GPU", async () => {
    const r = await kiln("none", "plan", "examples/llama-8b-sae-pii.yaml");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // The checks `kiln run` makes before launch follow the plan (the bundle's size and hash vary with workload/).
    const [planText, checksText] = r.stdout.split("\nChecks before launch:\n");
    expect(checksText).toMatch(/^ {2}ok {3}spec .*valid \(job llama-8b-sae-pii, sae-pii\)\n/);
    expect(checksText).toMatch(/^ {2}ok {3}budget .*\$\d+\.\d\d within budget\.max_usd \$20\.00$/m);
    // The estimate does not depend on the offers.
    expect(planText!.split("\n").slice(0, 7).join("\n")).toMatchInlineSnapshot(`
      "Job llama-8b-sae-pii: SAE on meta-llama/Llama-3.1-8B layer 12 (d=4096, 32768 latents, k=64)
      Memory: ~16.5 GB per GPU = weights 6.7 + SAE & Adam 4.3 + activations 2.6 + overhead 2.9
      Work: SAE 541,500,000 tokens (10 epochs × 100,000 records × 570 tokens (LMSYS-Chat-1M: ~570 tokens per conversation) × 95% train split) × 0.271 GFLOP/token at 20% MFU (assumed: no GPU measurement yet)
            LM forward 57,000,000 tokens (train + val) × 5.7 GFLOP/token at 50% MFU (assumed: no GPU measurement yet): once when the activation cache holds them, every epoch when it streams
      Activation cache: 444 GB (54,150,000 train tokens × d 4096 × 2 B bf16), activation_cache auto: in RAM if under half of it, else on disk, else streamed
      Learning rate: auto: 0.000141 for 132203 steps of 4096 tokens, n=32768, k=64, d=4096 (calibrated rule 5.67e-05, docs/learning-rate.md; raised to the long-run floor 2e-4/sqrt(n/2^14) = 0.000141)
      Local GPU: none (nvidia-smi not found)"
    `);
    // The table: the cheapest offers that fit, across GPU models and clouds (the catalogs change; the shape does not).
    expect(planText).toMatch(/^ +option +gpu +\$\/h +extract +SAE +time +boot min +est\. cost +cache +price +why$/m);
    const rows = planText!.split("\n").filter((l) => /^[→ ] {2}\S+ \S.* catalog \d{4}-\d\d-\d\d +(won|lost): /.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect(rows[0]).toMatch(/^→ {2}\S+ .* won: lowest expected cost, /);
    expect(rows.slice(1).every((l) => /^ {3}\S+ .* lost: (\+\$\d+\.\d\d|a tie)/.test(l))).toBe(true);
    const costs = rows.map((l) => Number(/ \$(\d+\.\d\d) +(memory|disk|stream)/.exec(l)?.[1]));
    expect(costs).toEqual([...costs].sort((x, y) => x - y));
    expect(new Set(rows.map((l) => l.split(/\s{2,}/)[2])).size).toBeGreaterThan(2); // several GPU models compete
    // The choice's label is the provider and its instance type, which can have spaces (RunPod's GPU type ids).
    expect(planText).toMatch(/^Choice: [a-z]+ .+ — lowest expected total cost within the budget\n {8}~.* incl\. 15 min boot, budget \$20\.00\n {8}boot: 10 min machine \((assumed: |runbook\.md: )/m);
    expect(planText).toMatch(/^Prices:\n( {2}.*: catalog 2025-10-30 \(\d+ days old\); (not configured|Kiln cannot ask them).*\n)+$/m);
  });

  it("stays local when the local GPU fits, and marks it chosen", async () => {
    const r = await kiln("a100-80gb", "plan", "examples/llama-8b-sae-pii.yaml");
    expect(r.code).toBe(0);
    // extract, SAE and total time, then where the cache goes: this machine's RAM and disk decide, so any.
    expect(r.stdout).toMatch(/^→ {2}local #0 NVIDIA A100 80GB PCIe +A100-80GB +\$0\.00( +\d+(\.\d)? (h|min)){3} +— +\$0\.00 +(memory|disk|stream)!? +free$/m);
    expect(r.stdout).toMatch(/^Choice: local #0 NVIDIA A100 80GB PCIe — a local GPU has enough free memory: no cloud cost$/m);
  });

  it("goes to the cloud when the local GPU is too small, saying why", async () => {
    const r = await kiln("rtx-3060", "plan", "examples/llama-8b-sae-pii.yaml");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/local #0 NVIDIA GeForce RTX 3060 .* 12\.\d GB free < 16\.5 GB needed/);
    expect(r.stdout).toMatch(/^Choice: [a-z]+ .+ — lowest expected total cost within the budget$/m);
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
    expect(plan.choice.offer.provider).toMatch(/^[a-z]+$/);
    expect(plan.choice.offer.gpu).toMatch(/^[A-Z0-9]+-\d+GB$/);
    // The split and the cache's place, per option, as the text shows them.
    const chosen = plan.considered.find((o) => o.chosen)!;
    expect(chosen.time.extractionHours + chosen.time.saeHours).toBeCloseTo(chosen.hours, 9);
    expect(["memory", "disk", "stream"]).toContain(chosen.time.cache.location);
    expect(chosen.time.cache.sizeGb).toBeCloseTo(plan.estimate.detail.cache.sizeGb, 9);
    expect(plan.estimate.detail.cache.mode).toBe("auto");
    expect(plan.estimate.vramGb).toBeGreaterThan(10);
    expect(plan.estimate.hoursByGpu["H100-80GB"]).toBeLessThan(plan.estimate.hoursByGpu["A100-40GB"]!);
    // What the text shows per offer, the JSON carries: why, boot, throughput (with sources), and the price sources.
    const full = JSON.parse(r.stdout) as {
      considered: { kind: string; chosen: boolean; why?: string; boot?: { hours: number; source: string; assumed: boolean }; throughput?: { bf16Tflops: number; source: string; mfu: { basis: string }; gpusUsed: number; gpuCount: number } }[];
      prices: { answers: unknown[]; notConfigured: string[]; catalogOnly: string[]; emulated: string[] };
    };
    const offers = full.considered.filter((o) => o.kind === "offer");
    expect(offers.length).toBeGreaterThan(10);
    for (const o of offers) {
      expect(o.why).toMatch(/^(won|lost|not needed): /);
      expect(o.boot?.hours).toBeGreaterThan(0);
      expect(o.boot?.source).toMatch(/\S/);
      expect(o.throughput?.bf16Tflops).toBeGreaterThan(0);
      expect(o.throughput?.mfu.basis).toMatch(/assumed/);
    }
    expect(offers.filter((o) => o.chosen)).toHaveLength(1);
    expect(offers.some((o) => (o.throughput?.gpuCount ?? 1) > 1)).toBe(true); // multi-GPU machines compete too
    expect(full.prices.answers).toEqual([]); // no key configured: every price is the catalog's
    expect(full.prices.notConfigured).toContain("lambda");
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
      // A provider that answered shows live rows only, never a catalog row beside them.
      expect(lambdaRows.every((l) => / live, capacity in us-[a-z]+-\d +(won|lost): /.test(l))).toBe(true);
      expect(r.stdout).toMatch(/^Prices:\n {2}lambda: live, \d+ offers? in \d+\.\d\d s at \d\d:\d\d:\d\d UTC \(emulated\)$/m);
      expect(emu.requests.some((q) => q.path.endsWith("/instance-types"))).toBe(true);
    } finally {
      await emu.close();
    }
  });
});

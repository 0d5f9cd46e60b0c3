import { describe, expect, it } from "vitest";
import { findOffers } from "../catalog/offers.js";
import type { GpuProbe } from "../gpu/probe.js";
import { parseJobSpec } from "../spec/load.js";
import { estimateSae } from "./estimate.js";
import { resolveModel } from "./models.js";
import { CLOUD_BOOT_HOURS, planJob } from "./plan.js";

const job = (resources: string, extra = "", budget = "{max_usd: 20}") =>
  parseJobSpec(
    `name: t
resources: ${resources}
budget: ${budget}
workload:
  type: sae-pii
  sae: {base_model: meta-llama/Llama-3.1-8B, layer: 12, latents: 32768, k: 64, epochs: 10, dataset: {name: lmsys/lmsys-chat-1m, subset_size: 100000}${extra}}
`,
    "t.yaml",
  );
const none: GpuProbe = { kind: "missing" };
const gpu = (name: string, totalMiB: number, freeMiB: number, cuda = "12.4"): GpuProbe => ({
  kind: "ok",
  gpus: [{ index: 0, name, memoryTotalMiB: totalMiB, memoryFreeMiB: freeMiB, driverVersion: "550.54.15" }],
  cudaVersion: cuda,
  driverVersion: "550.54.15",
});
const offersFor = async (providers: string[]) =>
  (await findOffers({ gpus: "any", count: 1, minVramGb: 1, spot: "allowed", providers: providers as never })).offers;

describe("models and estimates", () => {
  it("sizes the part of Llama-3.1-8B up to layer 12", () => {
    const m = resolveModel("meta-llama/Llama-3.1-8B", 12);
    // embeddings (128256 × 4096) + 13 of 32 blocks of ~218M parameters.
    expect(m.paramsToLayer / 1e9).toBeCloseTo(3.36, 2);
    expect(resolveModel("minilm", 3).dModel).toBe(384);
  });

  it("breaks down VRAM and FLOPs with stated factors", () => {
    const spec = job("{providers: [lambda]}");
    if (spec.workload.type !== "sae-pii") throw new Error("unreachable");
    const e = estimateSae(spec.workload.sae);
    expect(e.nLatents).toBe(32768);
    expect(e.vram.weightsGb).toBeCloseTo(6.72, 1); // bf16
    expect(e.vram.saeStateGb).toBeCloseTo(4.29, 1); // 268M fp32 params × 4 copies
    expect(e.flopsPerToken.sae).toBe(4 * 4096 * 32768 + 10 * 64 * 4096);
    expect(e.tokens.total).toBe(10 * 100_000 * 570 * 0.95);
    // H100 (756 TFLOP/s) is faster than A100 (312) by the throughput ratio.
    expect(e.hoursByGpu["A100-40GB"]! / e.hoursByGpu["H100-80GB"]!).toBeCloseTo(756 / 312, 5);
  });

  it("asks for model_shape when the model is unknown, and uses it when given", () => {
    const unknown = job("{providers: [lambda]}").workload;
    if (unknown.type !== "sae-pii") throw new Error("unreachable");
    expect(() => estimateSae({ ...unknown.sae, base_model: "acme/secret-13b" })).toThrow(/does not know the shape of "acme\/secret-13b"/);
    const e = estimateSae({ ...unknown.sae, base_model: "acme/secret-13b", model_shape: { d_model: 5120, n_layers: 40, params: 13e9 } });
    expect(e.model.source).toBe("model_shape");
    expect(e.model.paramsToLayer).toBeCloseTo((13e9 / 40) * 13, -3);
  });
});

describe("planJob", () => {
  it("chooses the lowest expected total cost, boot included", async () => {
    const plan = planJob(job("{gpu: any, providers: [lambda, runpod]}"), { gpuProbe: none, offers: await offersFor(["lambda", "runpod"]) });
    const chosen = plan.considered.find((o) => o.chosen)!;
    const eligible = plan.considered.filter((o) => !o.excluded);
    expect(Math.min(...eligible.map((o) => o.costUsd))).toBe(chosen.costUsd);
    expect(chosen.costUsd).toBeCloseTo(chosen.offer!.pricePerHour * (chosen.hours + CLOUD_BOOT_HOURS), 6);
    // Too-small GPUs are listed with the reason they were ruled out.
    expect(plan.considered.find((o) => o.offer?.gpu === "RTX4090-24GB")?.excluded).toBeUndefined();
    expect(plan.considered.find((o) => o.offer?.gpu === "A10-24GB")?.excluded).toBeUndefined();
  });

  it("respects max_price_per_hour and rules GPUs with too little memory out", async () => {
    const plan = planJob(job("{gpu: any, providers: [lambda], max_price_per_hour: 1.0, min_vram_gb: 30}"), { gpuProbe: none, offers: await offersFor(["lambda"]) });
    expect(plan.choice?.offer).toMatchObject({ instanceType: "gpu_1x_a6000" });
    expect(plan.considered.find((o) => o.offer?.instanceType === "gpu_1x_a100")?.excluded).toBe("$1.29/h > max_price_per_hour $1.00");
    expect(plan.considered.find((o) => o.offer?.instanceType === "gpu_1x_a10")?.excluded).toBe("24 GB < 30.0 GB needed");
  });

  it("prefers spot offers when asked, and prices their restarts", async () => {
    const plan = planJob(job("{gpu: [A100-40GB], providers: [aws, gcp, azure], spot: prefer}", "", "{max_usd: 50}"), { gpuProbe: none, offers: await offersFor(["aws", "gcp", "azure"]) });
    expect(plan.choice?.offer).toMatchObject({ provider: "aws", spot: true, pricePerHour: 1.2 });
  });

  it("uses a local GPU that fits, but not one with an old driver", async () => {
    const fits = planJob(job("{providers: [local, lambda]}"), { gpuProbe: gpu("NVIDIA A100-SXM4-40GB", 40960, 40327), offers: await offersFor(["lambda"]) });
    expect(fits.choice).toMatchObject({ kind: "local" });
    const old = planJob(job("{providers: [local, lambda]}"), { gpuProbe: gpu("NVIDIA A100-SXM4-40GB", 40960, 40327, "11.4"), offers: await offersFor(["lambda"]) });
    expect(old.choice?.kind).toBe("offer");
    expect(old.considered[0]?.excluded).toBe("driver supports CUDA 11.4 < 12.0 (update the NVIDIA driver)");
  });

  it("refuses over budget, naming the estimate and the cap", async () => {
    const plan = planJob(job("{gpu: [A100-40GB], providers: [gcp]}"), { gpuProbe: none, offers: await offersFor(["gcp"]) });
    expect(plan.choice).toBeUndefined();
    expect(plan.refusal).toMatch(/^the cheapest fitting offer \(gcp a2-highgpu-1g, ~8\.6 h\) is estimated at \$32\.\d\d, over budget\.max_usd \$20\.00$/);
  });

  it("needs min_vram_gb and max_hours to price a command workload", () => {
    const spec = (res: string, budget: string) =>
      parseJobSpec(`name: c\nresources: ${res}\nbudget: ${budget}\nworkload: {type: command, run: ["python train.py"]}\n`, "c.yaml");
    expect(() => planJob(spec("{providers: [lambda]}", "{max_usd: 5}"), { gpuProbe: none, offers: [] })).toThrow(/resources\.min_vram_gb: a command workload cannot be sized/);
    expect(() => planJob(spec("{providers: [lambda], min_vram_gb: 20}", "{max_usd: 5}"), { gpuProbe: none, offers: [] })).toThrow(/budget\.max_hours/);
  });

  it("prices a command workload at its max_hours", async () => {
    const spec = parseJobSpec(`name: c\nresources: {providers: [lambda], min_vram_gb: 20}\nbudget: {max_usd: 5, max_hours: 2}\nworkload: {type: command, run: ["python train.py"]}\n`, "c.yaml");
    const plan = planJob(spec, { gpuProbe: none, offers: await offersFor(["lambda"]) });
    expect(plan.choice?.offer).toMatchObject({ instanceType: "gpu_1x_a10" });
    expect(plan.considered.find((o) => o.chosen)?.costUsd).toBeCloseTo(0.75 * (2 + CLOUD_BOOT_HOURS), 6);
  });

  it("prefers the user's own ssh machine to a cloud, and rules it out when its probe says it is too small", async () => {
    const spec = job("{providers: [ssh, lambda], ssh: {host: gpu.lan}}");
    const unprobed = planJob(spec, { gpuProbe: none, offers: await offersFor(["lambda"]) });
    expect(unprobed.choice).toMatchObject({ kind: "ssh", reason: "your own machine (resources.ssh): no cloud cost" });
    expect(unprobed.considered[0]?.label).toBe("ssh root@gpu.lan:22 (not probed; checked at start)");
    const small = planJob(spec, { gpuProbe: none, sshProbe: gpu("NVIDIA GeForce RTX 3060", 12288, 11523), offers: await offersFor(["lambda"]) });
    expect(small.choice?.kind).toBe("offer");
    expect(small.considered[0]).toMatchObject({ kind: "ssh", label: "ssh root@gpu.lan:22 #0 NVIDIA GeForce RTX 3060", excluded: "12.1 GB free < 16.5 GB needed" });
  });
});

import { describe, expect, it } from "vitest";
import { findOffers } from "../catalog/offers.js";
import type { GpuProbe } from "../gpu/probe.js";
import { parseJobSpec } from "../spec/load.js";
import {
  CACHE_RAM_FRACTION,
  DISK_CACHE_READ_GBPS,
  DISK_CACHE_WRITE_GBPS,
  MFU_LM,
  MFU_SAE,
  PAGE_CACHE_FRACTION,
  estimateSae,
  gpuDevice,
  placeCache,
  runTime,
} from "./estimate.js";
import { resolveModel } from "./models.js";
import { ASSUMED_DISK_GB, ASSUMED_RAM_PER_VRAM, CLOUD_BOOT_HOURS, DISK_OS_GB, planJob } from "./plan.js";
import { renderPlan } from "./render.js";
import { offerOf } from "./testing/offers.js";

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
    // Only the encoder's forward is dense; the rest touches the k active latents (kiln_sae.sparse_ops).
    expect(e.flopsPerToken.sae).toBe(2 * 4096 * 32768 + 10 * 64 * 4096);
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
    // A disk sized at launch for the activation cache bills with the machine.
    expect(chosen.costUsd).toBeCloseTo((chosen.offer!.pricePerHour + (chosen.launchDisk?.usdPerHour ?? 0)) * (chosen.hours + CLOUD_BOOT_HOURS), 6);
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

  it("prefers spot offers when asked, and prices their restarts", () => {
    // Synthetic offers: the clouds' catalogs are being rewritten, and this is about the arithmetic.
    const onDemand = offerOf({ provider: "aws", instanceType: "a100-box", gpu: "A100-40GB", vramGb: 40, pricePerHour: 3.02, memoryGb: 1000, diskGb: 1000 });
    const spot = { ...onDemand, spot: true, pricePerHour: 1.2 };
    const spec = job("{gpu: [A100-40GB], providers: [aws, gcp, azure], spot: prefer}", "", "{max_usd: 50}");
    const plan = planJob(spec, { gpuProbe: none, offers: [onDemand, spot] });
    expect(plan.choice?.offer).toMatchObject({ provider: "aws", spot: true, pricePerHour: 1.2 });
    const chosen = plan.considered.find((o) => o.chosen)!;
    // E[hours] = T + rate × T × (boot + half a checkpoint interval + the cache's rebuild), with the assumed A100 rate of 0.1/h.
    const s = chosen.spot!;
    expect(s.rate).toBe(0.1);
    expect(s.expectedRestarts).toBeCloseTo(0.1 * s.runHours, 10);
    // AWS states its own boot (2.3 min, SkyPilot's figure) plus Kiln's setup: every restart pays it again.
    const boot = chosen.boot!;
    expect(boot).toMatchObject({ machineMinutes: 2.3, assumed: false });
    expect(s.expectedHours).toBeCloseTo(s.runHours + s.expectedRestarts * (boot.hours + s.lostHoursPerRestart + s.rebuildHoursPerRestart), 10);
    expect(chosen.costUsd).toBeCloseTo(1.2 * (s.expectedHours + boot.hours), 10);
    expect(renderPlan(spec, plan, none)).toMatch(/spot: E\[restarts\] = 0\.1\/h \(assumed\) × [\d.]+ h = [\d.]+; E\[hours\] = /);
  });

  it("notes each listed cloud that sells no spot when spot is allowed, and none when it is not", () => {
    const offer = offerOf({ provider: "thunder", instanceType: "a100xl", gpu: "A100-80GB", vramGb: 80, pricePerHour: 0.78, memoryGb: 1000, diskGb: 1000 });
    const allowed = planJob(job("{gpu: any, providers: [thunder, runpod, tensordock], spot: allowed}", "", "{max_usd: 50}"), { gpuProbe: none, offers: [offer] });
    expect(allowed.notes.filter((n) => n.startsWith("no spot on "))).toEqual([
      expect.stringMatching(/^no spot on thunder: Thunder Compute sells no spot machines/),
      expect.stringMatching(/^no spot on tensordock: TensorDock's v2 API has no spot machines/),
    ]);
    const never = planJob(job("{gpu: any, providers: [thunder], spot: never}", "", "{max_usd: 50}"), { gpuProbe: none, offers: [offer] });
    expect(never.notes.some((n) => n.startsWith("no spot on "))).toBe(false);
  });

  it("spot: prefer still takes on-demand when spot's expected total (restarts priced in) is higher", () => {
    const onDemand = offerOf({ provider: "aws", instanceType: "a100-box", gpu: "A100-40GB", vramGb: 40, pricePerHour: 3.02 });
    // A spot price only 1% below on-demand: a tenth of a reclaim per hour costs more than that saves.
    const spot = { ...onDemand, instanceType: "a100-box-spot", spot: true, pricePerHour: onDemand.pricePerHour * 0.99 };
    const plan = planJob(job("{gpu: [A100-40GB], providers: [aws], spot: prefer}", "", "{max_usd: 500}"), { gpuProbe: none, offers: [onDemand, spot] });
    expect(plan.choice?.offer?.spot).toBe(false);
    const spotOption = plan.considered.find((o) => o.offer?.spot)!;
    expect(spotOption.costUsd).toBeGreaterThan(plan.considered.find((o) => o.chosen)!.costUsd);
  });

  it("uses a local GPU that fits, but not one with an old driver", async () => {
    const fits = planJob(job("{providers: [local, lambda]}"), { gpuProbe: gpu("NVIDIA A100-SXM4-40GB", 40960, 40327), offers: await offersFor(["lambda"]) });
    expect(fits.choice).toMatchObject({ kind: "local" });
    const old = planJob(job("{providers: [local, lambda]}"), { gpuProbe: gpu("NVIDIA A100-SXM4-40GB", 40960, 40327, "11.4"), offers: await offersFor(["lambda"]) });
    expect(old.choice?.kind).toBe("offer");
    expect(old.considered[0]?.excluded).toBe("driver supports CUDA 11.4 < 12.0 (update the NVIDIA driver)");
  });

  it("refuses over budget, naming the estimate and the cap", () => {
    const a2 = offerOf({ provider: "gcp", instanceType: "a2-highgpu-1g", gpu: "A100-40GB", vramGb: 40, pricePerHour: 3.67, memoryGb: 85 });
    const plan = planJob(job("{gpu: [A100-40GB], providers: [gcp]}"), { gpuProbe: none, offers: [a2] });
    expect(plan.choice).toBeUndefined();
    const gcp = plan.considered.find((o) => o.offer?.instanceType === "a2-highgpu-1g")!;
    expect(plan.refusal).toBe(`the cheapest fitting offer (gcp a2-highgpu-1g, ~${gcp.hours.toFixed(1)} h) is estimated at $${gcp.costUsd.toFixed(2)}, over budget.max_usd $20.00`);
    expect(gcp.costUsd).toBeGreaterThan(20);
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

/** The reference job's SAE config, with `extra` YAML appended inside `sae: {…}`. */
const sae = (extra = "", resources = "{providers: [lambda]}") => {
  const w = job(resources, extra).workload;
  if (w.type !== "sae-pii") throw new Error("unreachable");
  return w.sae;
};
const A100 = gpuDevice(312);
const roomy = { ramGb: 10_000, diskGb: 10_000, basis: "test" };
const cramped = { ramGb: 16, diskGb: 50, basis: "test" };

describe("activation cache", () => {
  it("sizes the cache from tokens × d × the model dtype's bytes", () => {
    const e = estimateSae(sae());
    const pass = 100_000 * 570 * 0.95;
    expect(e.cache).toMatchObject({ mode: "auto", tokens: pass, dtype: "bf16" });
    expect(e.cache.sizeGb).toBeCloseTo((pass * 4096 * 2) / 1e9, 6);
    expect(e.epochs).toBe(10);
    // fp32 models are cached in fp32 (cache.py stores the model's own dtype): twice the bytes.
    expect(estimateSae(sae(", model_dtype: fp32")).cache.sizeGb).toBeCloseTo(2 * e.cache.sizeGb, 6);
    // Validation is 5% of the data: 1/19 of the train split, extracted once.
    expect(e.valTokens).toBe(Math.round((pass * 0.05) / 0.95));
  });

  it("charges the LM forward once when the cache fits the RAM, and the SAE every epoch", () => {
    const e = estimateSae(sae());
    const t = runTime(e, A100, roomy);
    expect(t.cache).toMatchObject({ location: "memory", fits: true });
    const lmRate = 312e12 * MFU_LM;
    const saeRate = 312e12 * MFU_SAE;
    expect(t.extractionHours * 3600).toBeCloseTo((e.flopsPerToken.lm * (e.cache.tokens + e.valTokens)) / lmRate, 3);
    expect(t.saeHours * 3600).toBeCloseTo((e.flopsPerToken.sae * e.tokens.total + e.flopsPerToken.saeEval * e.valTokens * 10) / saeRate, 3);
    expect(t.hours).toBeCloseTo(t.extractionHours + t.saeHours, 9);
    expect(e.hoursByGpu["A100-40GB"]).toBeCloseTo(t.hours, 9);
    // Twice the epochs: the same extraction, twice the SAE.
    const twice = runTime(estimateSae({ ...sae(), epochs: 20 }), A100, roomy);
    expect(twice.extractionHours).toBeCloseTo(t.extractionHours, 9);
    expect(twice.saeHours / t.saeHours).toBeCloseTo(2, 9);
  });

  it("streams when the cache fits neither RAM nor disk: the LM forward runs every epoch", () => {
    const e = estimateSae(sae());
    const t = runTime(e, A100, cramped);
    expect(t.cache).toMatchObject({ location: "stream", fits: false });
    expect(t.extractionHours * 3600).toBeCloseTo((e.flopsPerToken.lm * (e.tokens.total + e.valTokens)) / (312e12 * MFU_LM), 3);
    const cached = runTime(e, A100, roomy);
    expect(t.saeHours).toBeCloseTo(cached.saeHours, 9);
    // 10 epochs of train tokens instead of one, val once either way.
    expect((t.extractionHours - cached.extractionHours) * 3600).toBeCloseTo((e.flopsPerToken.lm * 9 * e.cache.tokens) / (312e12 * MFU_LM), 3);
    // activation_cache: none streams even where the cache would fit.
    expect(runTime(estimateSae(sae(", activation_cache: none")), A100, roomy).cache).toMatchObject({ location: "stream", fits: true });
  });

  it("puts a cache over half the RAM on disk, paying its write and the rows the page cache misses", () => {
    const e = estimateSae(sae());
    const size = e.cache.sizeGb;
    const machine = { ramGb: 200, diskGb: size + e.diskNeedGb + 1, basis: "test" };
    expect(size).toBeGreaterThan(CACHE_RAM_FRACTION * machine.ramGb);
    const t = runTime(e, A100, machine);
    const inRam = runTime(e, A100, roomy);
    expect(t.cache).toMatchObject({ location: "disk", fits: true });
    expect((t.extractionHours - inRam.extractionHours) * 3600).toBeCloseTo(size / DISK_CACHE_WRITE_GBPS, 3);
    const missed = 1 - (PAGE_CACHE_FRACTION * machine.ramGb) / size;
    // Reads overlap the SAE steps (the reader prefetches): the slower of the two sets the pace.
    expect(t.saeHours * 3600).toBeCloseTo(Math.max(inRam.saeHours * 3600, (10 * size * missed) / DISK_CACHE_READ_GBPS), 3);
    expect(t.saeHours).toBeGreaterThan(inRam.saeHours);
    // One GB less disk and it no longer fits: streamed.
    expect(placeCache(e, { ...machine, diskGb: machine.diskGb - 2 }).location).toBe("stream");
    // The model download and three SAE checkpoints share the disk: 16 GB + 3 × 3.2 GB.
    expect(e.diskNeedGb).toBeCloseTo(8.03e9 * 2e-9 + (3 * (2 * 4096 * 32768 + 32768 + 4096) * 12) / 1e9, 6);
  });

  it("extracts the whole dataset once under a tokens budget", () => {
    const e = estimateSae({ ...sae(), epochs: undefined, tokens: 1_000_000_000 });
    expect(e.cache.tokens).toBe(100_000 * 570 * 0.95);
    expect(e.epochs).toBeCloseTo(1e9 / (100_000 * 570 * 0.95), 9);
  });
});

describe("planJob and the activation cache", () => {
  it("prices the reference job per machine: Lambda's A100 from its catalog RAM and disk, unknown offers as assumed", async () => {
    const plan = planJob(job("{gpu: [A100-40GB, A100-80GB], providers: [lambda]}"), { gpuProbe: none, offers: await offersFor(["lambda"]) });
    const e = plan.estimate.detail!;
    const a100 = plan.considered.find((o) => o.offer?.instanceType === "gpu_1x_a100")!;
    const GIB = 2 ** 30 / 1e9;
    // Lambda's gpu_1x_a100: 200 GiB RAM, 512 GiB disk — the 444 GB cache is over half the RAM, and fits the disk.
    expect(a100.time?.cache.machine).toEqual({ ramGb: 200 * GIB, diskGb: 512 * GIB - DISK_OS_GB, basis: "catalog" });
    expect(a100.time?.cache).toMatchObject({ location: "disk", fits: true });
    expect(a100.hours).toBeCloseTo(runTime(e, gpuDevice(312), a100.time!.cache.machine).hours, 9);
    // The 80 GB A100's row has no specs: RAM = its GPU memory, a 100 GB disk — too small, so streamed.
    const sxm = plan.considered.find((o) => o.offer?.instanceType === "gpu_1x_a100_sxm4_80gb")!;
    expect(sxm.time?.cache.machine).toEqual({ ramGb: ASSUMED_RAM_PER_VRAM * 80, diskGb: ASSUMED_DISK_GB - DISK_OS_GB, basis: "assumed" });
    expect(sxm.time?.cache).toMatchObject({ location: "stream", fits: false });
    const chosen = plan.considered.find((o) => o.chosen)!;
    expect(chosen.costUsd).toBe(Math.min(...plan.considered.map((o) => o.costUsd)));
    if (chosen.time?.cache.location === "stream") expect(plan.notes.join("\n")).toMatch(/set workload\.sae\.activation_cache: none/);
  });

  it("quotes early stopping's saving on the epochs only, not on a cached extraction", async () => {
    const plan = planJob(job("{gpu: [A100-40GB], providers: [lambda]}", ", early_stopping: {min_epochs: 3, patience: 2, delta: 0.001}"), {
      gpuProbe: none,
      offers: await offersFor(["lambda"]),
    });
    const chosen = plan.considered.find((o) => o.chosen)!;
    expect(chosen.time?.cache.location).toBe("disk");
    expect(plan.savings.earlyStopping?.usd).toBeCloseTo(chosen.offer!.pricePerHour * chosen.time!.saeHours * 0.5, 2);
  });

  it("uses this machine's RAM and disk for the local options", async () => {
    const spec = job("{providers: [local, lambda]}");
    const big = planJob(spec, { gpuProbe: gpu("NVIDIA A100 80GB PCIe", 81920, 81000), offers: [], localMachine: { ramGb: 2000, diskFreeGb: 100 } });
    expect(big.considered[0]?.time?.cache).toMatchObject({ location: "memory", machine: { basis: "this machine" } });
    const small = planJob(spec, { gpuProbe: gpu("NVIDIA A100 80GB PCIe", 81920, 81000), offers: [], localMachine: { ramGb: 64, diskFreeGb: 100 } });
    expect(small.considered[0]?.time?.cache.location).toBe("stream");
    expect(small.considered[0]!.hours).toBeGreaterThan(big.considered[0]!.hours);
  });
});

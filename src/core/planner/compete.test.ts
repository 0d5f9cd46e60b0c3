// gpu: any — every offer with enough memory competes, across GPU models and GPU counts, each priced with its
// GPU's datasheet throughput, its provider's boot, its machine's RAM and disk for the activation cache and,
// for spot, its expected restarts; each says why it won or lost. Synthetic offers: the clouds' catalogs move.
import { afterEach, describe, expect, it } from "vitest";
import { GPU_MODELS } from "../../providers/gpu-models.js";
import { registerProvider } from "../../providers/registry.js";
import { parseJobSpec } from "../spec/load.js";
import type { JobSpec } from "../spec/job-spec.js";
import { DEFAULT_MACHINE_BOOT, SETUP_MINUTES, bootFor } from "./boot.js";
import { MFU } from "./estimate.js";
import { GPUS_USED_PER_MACHINE } from "./offer-option.js";
import { planJob } from "./plan.js";
import { renderPlan } from "./render.js";
import { offerOf, priceTestCloud } from "./testing/offers.js";

const job = (resources: string, extra = "", budget = "{max_usd: 50}"): JobSpec =>
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
const none = { kind: "missing" } as const;
/** Roomy machines (the cache fits half the RAM), so the GPUs' throughput decides. */
const roomy = { memoryGb: 2000, diskGb: 4000 };
const fleet = [
  offerOf({ provider: "runpod", instanceType: "4090", gpu: "RTX4090-24GB", vramGb: 24, pricePerHour: 0.34, ...roomy }),
  offerOf({ provider: "runpod", instanceType: "a6000", gpu: "A6000-48GB", vramGb: 48, pricePerHour: 0.49, ...roomy }),
  offerOf({ provider: "runpod", instanceType: "l40s", gpu: "L40S-48GB", vramGb: 48, pricePerHour: 0.86, ...roomy }),
  offerOf({ provider: "lambda", instanceType: "gpu_1x_a100", gpu: "A100-40GB", vramGb: 40, pricePerHour: 1.29, ...roomy }),
  offerOf({ provider: "lambda", instanceType: "gpu_1x_h100_pcie", gpu: "H100-80GB", vramGb: 80, pricePerHour: 2.49, ...roomy }),
  offerOf({ provider: "lambda", instanceType: "gpu_1x_h100_sxm5", gpu: "H100-80GB", vramGb: 80, pricePerHour: 3.29, ...roomy }),
  offerOf({ provider: "runpod", instanceType: "h200", gpu: "H200-141GB", vramGb: 141, pricePerHour: 3.59, ...roomy }),
  offerOf({ provider: "lambda", instanceType: "gpu_1x_b200_sxm6", gpu: "B200-180GB", vramGb: 180, pricePerHour: 4.99, ...roomy }),
  offerOf({ provider: "lambda", instanceType: "gpu_8x_h100_sxm5", gpu: "H100-80GB", gpuCount: 8, vramGb: 80, pricePerHour: 23.92, ...roomy }),
  offerOf({ provider: "runpod", instanceType: "t4", gpu: "T4-16GB", vramGb: 16, pricePerHour: 0.2, ...roomy }),
];

describe("gpu: any", () => {
  const spec = job("{gpu: any, providers: [lambda, runpod]}", "", "{max_usd: 500}");
  const plan = planJob(spec, { gpuProbe: none, offers: fleet });
  const option = (instanceType: string) => plan.considered.find((o) => o.offer?.instanceType === instanceType)!;

  it("lets every GPU model and GPU count compete, each at its datasheet throughput × the stated MFU", () => {
    expect(plan.considered.filter((o) => o.kind === "offer")).toHaveLength(fleet.length);
    for (const o of plan.considered) {
      const t = o.throughput!;
      expect(t.mfu).toEqual({ lm: MFU.lm.value, sae: MFU.sae.value, basis: MFU.lm.basis });
      expect(t.source).not.toBe("");
    }
    expect(MFU.lm.basis).toMatch(/assumed/);
    expect(option("4090").throughput?.bf16Tflops).toBe(GPU_MODELS.find((g) => g.name === "RTX4090-24GB")!.bf16Tflops);
    // One canonical H100, two form factors: the instance type that names SXM gets SXM's figure.
    expect(option("gpu_1x_h100_pcie").throughput?.bf16Tflops).toBe(756);
    expect(option("gpu_1x_h100_sxm5").throughput?.bf16Tflops).toBe(989);
    expect(option("gpu_1x_b200_sxm6").throughput?.bf16Tflops).toBe(2250);
    // Faster GPUs finish sooner, by their throughput (same roomy machine, so the same cache placement).
    expect(option("gpu_1x_a100").hours / option("gpu_1x_h100_sxm5").hours).toBeCloseTo(989 / 312, 5);
    // The cheapest expected total wins, whatever the GPU.
    const eligible = plan.considered.filter((o) => o.excluded === undefined);
    expect(plan.considered.find((o) => o.chosen)!.costUsd).toBe(Math.min(...eligible.map((o) => o.costUsd)));
    expect(new Set(eligible.map((o) => o.offer!.gpu)).size).toBeGreaterThanOrEqual(7);
  });

  it("never picks an Arm host for gpu: any (Kiln's setup is untested there), but takes it when named", () => {
    const gh = offerOf({ provider: "lambda", instanceType: "gpu_1x_gh200", gpu: "GH200-96GB", vramGb: 96, pricePerHour: 0.01, ...roomy });
    const any = planJob(spec, { gpuProbe: none, offers: [...fleet, gh] });
    const ghAny = any.considered.find((o) => o.offer?.instanceType === "gpu_1x_gh200")!;
    expect(ghAny.excluded).toMatch(/^Arm \(aarch64\) host: .*list GH200-96GB in resources\.gpu/);
    expect(any.considered.find((o) => o.chosen)!.offer!.instanceType).not.toBe("gpu_1x_gh200");
    const named = planJob(job("{gpu: [GH200-96GB], providers: [lambda]}", "", "{max_usd: 500}"), { gpuProbe: none, offers: [gh] });
    expect(named.considered.find((o) => o.chosen)?.offer?.instanceType).toBe("gpu_1x_gh200");
  });

  it("prices a machine with more GPUs than the job trains on for all of them, and says so", () => {
    const eight = option("gpu_8x_h100_sxm5");
    expect(eight.excluded).toBeUndefined();
    expect(eight.throughput).toMatchObject({ gpuCount: 8, gpusUsed: GPUS_USED_PER_MACHINE });
    expect(eight.hours).toBeCloseTo(option("gpu_1x_h100_sxm5").hours, 9);
    expect(eight.costUsd).toBeCloseTo(23.92 * (eight.hours + eight.boot!.hours), 9);
    expect(eight.why).toMatch(/^lost: \+\$\d+\.\d\d: .*bills 8 GPUs, trains on 1/);
  });

  it("rules a GPU below the memory need out, with the reason", () => {
    const t4 = option("t4");
    expect(t4.excluded).toBe(`16 GB < ${plan.estimate.vramGb.toFixed(1)} GB needed`);
    expect(t4.why).toBe(`lost: ${t4.excluded}`);
    expect(t4.chosen).toBe(false);
  });

  it("says why each offer won or lost: time, $/h, cache, boot", () => {
    const chosen = plan.considered.find((o) => o.chosen)!;
    expect(chosen.why).toMatch(/^won: lowest expected cost, [\d.]+ (h|min) at \d+ TFLOP\/s, cache in (RAM|disk), boot \d+ min/);
    for (const o of plan.considered.filter((x) => !x.chosen && x.excluded === undefined)) expect(o.why).toMatch(/^lost: (\+\$\d+\.\d\d|a tie)/);
    // Slower and cheaper per hour than the choice, or faster and pricier: the why names the side that lost.
    const slow = plan.considered.filter((o) => !o.chosen && o.excluded === undefined && o.hours > chosen.hours * 1.01);
    for (const o of slow) expect(o.why).toMatch(/slower: [\d.]+ (h|min) vs [\d.]+ (h|min) \(\d+ vs \d+ TFLOP\/s/);
    const pricier = plan.considered.filter((o) => !o.chosen && o.excluded === undefined && o.offer!.pricePerHour > chosen.offer!.pricePerHour);
    for (const o of pricier) expect(o.why).toMatch(/pricier: \$[\d.]+\/h vs \$[\d.]+\/h/);
  });

  it("shows the top offers in the text, the rest summed up by reason", () => {
    const text = renderPlan(spec, plan, undefined);
    expect(text).toMatch(/^ +option +gpu +\$\/h +extract +SAE +time +boot min +est\. cost +cache +price +why$/m);
    expect(text).toMatch(/^Not shown: .*1 too little GPU memory \(T4-16GB\).*`kiln plan --json` lists every offer/m);
    expect(text).toMatch(/^ {8}throughput: \S+ \d+ TFLOP\/s dense bf16 \(.+\) × MFU 50% LM \/ 20% SAE \(assumed/m);
  });
});

describe("boot, per provider", () => {
  let unregister: (() => void)[] = [];
  afterEach(() => {
    for (const u of unregister) u();
    unregister = [];
  });

  it("adds the provider's stated boot (or the assumed default) to the hours billed", () => {
    unregister.push(registerProvider(priceTestCloud("fastboot", { delayMs: 0 }, { boot: { minutes: 1, source: "test: measured" } })));
    unregister.push(registerProvider(priceTestCloud("slowboot", { delayMs: 0 })));
    expect(bootFor("fastboot")).toMatchObject({ machineMinutes: 1, setupMinutes: SETUP_MINUTES, assumed: false, hours: (1 + SETUP_MINUTES) / 60 });
    expect(bootFor("slowboot")).toMatchObject({ machineMinutes: DEFAULT_MACHINE_BOOT.minutes, assumed: true });
    const base = job("{gpu: any, providers: [lambda]}");
    const spec = { ...base, resources: { ...base.resources, providers: ["fastboot", "slowboot"] } };
    const same = { gpu: "A100-40GB", vramGb: 40, pricePerHour: 1.29, ...roomy };
    const plan = planJob(spec, { gpuProbe: none, offers: [offerOf({ provider: "slowboot", instanceType: "x", ...same }), offerOf({ provider: "fastboot", instanceType: "x", ...same })] });
    const [slow, fast] = plan.considered;
    expect(slow!.costUsd - fast!.costUsd).toBeCloseTo(1.29 * (slow!.boot!.hours - fast!.boot!.hours), 9);
    expect(fast!.chosen).toBe(true);
    expect(slow!.why).toMatch(/boot 15 vs 6 min/);
  });
});

describe("spot restarts", () => {
  const a100 = offerOf({ provider: "aws", instanceType: "p4", gpu: "A100-40GB", vramGb: 40, pricePerHour: 3, ...roomy });
  const spot = { ...a100, spot: true, pricePerHour: 1, capPricePerHour: 3 };

  it("cost a boot, half a checkpoint interval and the cache's re-extraction each", () => {
    const plan = planJob(job("{gpu: any, providers: [aws], spot: allowed}"), { gpuProbe: none, offers: [a100, spot] });
    const s = plan.considered.find((o) => o.offer?.spot)!;
    const a = s.spot!;
    const t = s.time!;
    // The cache is in RAM on the reclaimed machine: a reclaim after the extraction extracts again.
    expect(t.cache.location).toBe("memory");
    expect(a.rebuildHoursPerRestart).toBeCloseTo(t.extractionHours * (t.saeHours / a.runHours), 9);
    expect(a.expectedHours).toBeCloseTo(a.runHours + a.expectedRestarts * (s.boot!.hours + a.lostHoursPerRestart + a.rebuildHoursPerRestart), 9);
    expect(s.costUsd).toBeCloseTo(1 * (a.expectedHours + s.boot!.hours), 9);
    // The worst case at the bid is carried along (the budget cap holds it, src/core/lifecycle).
    expect(s.worstCaseUsd).toBeCloseTo(3 * (a.expectedHours + s.boot!.hours), 9);
    expect(s.why).toMatch(/spot \+[\d.]+ (h|min) expected restarts|spot restarts/);
  });

  it("have nothing to rebuild when the run streams", () => {
    const plan = planJob(job("{gpu: any, providers: [aws], spot: allowed}", ", activation_cache: none"), { gpuProbe: none, offers: [spot] });
    expect(plan.considered[0]!.spot!.rebuildHoursPerRestart).toBe(0);
  });
});

describe("the activation cache decides between machines", () => {
  it("puts a cache that does not fit half the RAM on disk, and an offer with room for neither loses, saying why", () => {
    const spec = job("{gpu: any, providers: [lambda]}");
    const offers = [
      offerOf({ provider: "lambda", instanceType: "big-ram", gpu: "A100-40GB", vramGb: 40, pricePerHour: 1.29, memoryGb: 2000, diskGb: 100 }),
      offerOf({ provider: "lambda", instanceType: "big-disk", gpu: "A100-40GB", vramGb: 40, pricePerHour: 1.29, memoryGb: 200, diskGb: 1000 }),
      offerOf({ provider: "lambda", instanceType: "small", gpu: "A100-40GB", vramGb: 40, pricePerHour: 1.2, memoryGb: 64, diskGb: 100 }),
    ];
    const plan = planJob(spec, { gpuProbe: none, offers });
    const by = (t: string) => plan.considered.find((o) => o.offer?.instanceType === t)!;
    expect(by("big-ram").time?.cache.location).toBe("memory");
    expect(by("big-disk").time?.cache).toMatchObject({ location: "disk", fits: true });
    expect(by("small").time?.cache).toMatchObject({ location: "stream", fits: false });
    // Cheaper per hour, but streaming runs the LM forward every epoch: it loses, and says so.
    expect(by("small").chosen).toBe(false);
    expect(by("small").why).toMatch(/^lost: \+\$\d+\.\d\d: slower: .*cache streamed: no room in RAM or disk/);
    expect(by("big-ram").chosen).toBe(true);
    expect(by("big-disk").why).toMatch(/cache on disk, not in RAM/);
  });
});

describe("the spot hint under spot: never", () => {
  it("names a cheaper spot offer, its restarts priced in, and the setting that allows it", () => {
    const a100 = offerOf({ provider: "aws", instanceType: "p4", gpu: "A100-40GB", vramGb: 40, pricePerHour: 3, ...roomy });
    const spot = { ...a100, spot: true, pricePerHour: 1 };
    const spec = job("{gpu: any, providers: [aws]}");
    const plan = planJob(spec, { gpuProbe: none, offers: [a100, spot] });
    expect(plan.choice?.offer?.spot).toBe(false);
    const priced = planJob(job("{gpu: any, providers: [aws], spot: allowed}"), { gpuProbe: none, offers: [spot] }).considered[0]!;
    expect(plan.savings.spot?.usd).toBeCloseTo(plan.considered[0]!.costUsd - priced.costUsd, 2);
    expect(renderPlan(spec, plan, undefined)).toMatch(/^Saving: spot on aws p4 would cost ~\$\d+\.\d\d \(save ~\$\d+\.\d\d\); set resources\.spot: allowed/m);
  });
});

/**
 * Disks sized at launch (Offer.diskSizing → PlanOption.launchDisk → LaunchRequest.diskGb): an offer whose RAM
 * and stated disk hold neither the reference job's 444 GB activation cache is priced twice — streamed, and with
 * a disk big enough for the cache, its storage price added for every billed hour — and the cheaper stands.
 */
import { describe, expect, it } from "vitest";
import type { DiskSizing } from "../../providers/provider.js";
import { HOURS_PER_MONTH } from "../../providers/provider.js";
import { parseJobSpec } from "../spec/load.js";
import { bootFor } from "./boot.js";
import { DISK_OS_GB, planJob } from "./plan.js";
import { renderPlan } from "./render.js";
import { offerOf } from "./testing/offers.js";

const job = (cache = "") =>
  parseJobSpec(
    `name: t
resources: {gpu: any, providers: [runpod, lambda]}
budget: {max_usd: 50}
workload:
  type: sae-pii
  sae: {base_model: meta-llama/Llama-3.1-8B, layer: 12, latents: 32768, k: 64, epochs: 10, dataset: {name: lmsys/lmsys-chat-1m, subset_size: 100000}${cache}}
`,
    "t.yaml",
  );
const sizing = (o: Partial<DiskSizing> = {}): DiskSizing => ({ maxGb: 2000, usdPerGbMonth: 0.1, includedGb: 0, priceSource: "test price", billedAfterTermination: false, ...o });
/** A 4090 with 64 GB of RAM and a 100 GB disk: the 444 GB cache fits neither. */
const card = (diskSizing?: DiskSizing) =>
  offerOf({ provider: "runpod", instanceType: "rtx4090", gpu: "RTX4090-24GB", vramGb: 24, pricePerHour: 0.34, memoryGb: 64, diskGb: 100, ...(diskSizing && { diskSizing }) });
const plan = (offers = [card(sizing())], cache = "") => planJob(job(cache), { gpuProbe: { kind: "missing" }, offers });

describe("planner: a disk sized at launch for the activation cache", () => {
  it("puts the cache on a sized disk when that beats streaming the same offer, the disk's price in the cost", () => {
    const streamed = plan([card()]).considered.find((o) => o.kind === "offer")!;
    const sized = plan().considered.find((o) => o.kind === "offer")!;
    expect(streamed.time?.cache.location).toBe("stream");
    expect(streamed.launchDisk).toBeUndefined();
    expect(sized.time?.cache).toMatchObject({ location: "disk", fits: true });
    const d = sized.launchDisk!;
    // The job's disk (cache + model + checkpoints) plus the OS allowance, in decimal GB (never short, whether
    // the API's "GB" means GB or GiB), up to a 10.
    const need = sized.time!.cache.jobDiskGb + DISK_OS_GB;
    expect(d.gb).toBe(Math.ceil(need / 10) * 10);
    expect(d.gb).toBeGreaterThanOrEqual(need);
    expect(sized.time!.cache.machine.diskGb).toBe(d.gb - DISK_OS_GB);
    expect(d.usdPerHour).toBeCloseTo((d.gb * 0.1) / HOURS_PER_MONTH, 9);
    // The storage is billed for every hour the machine is, boot included.
    const billed = sized.hours + bootFor("runpod").hours;
    expect(sized.costUsd).toBeCloseTo((0.34 + d.usdPerHour) * billed, 9);
    expect(d.usd).toBeCloseTo(d.usdPerHour * billed, 9);
    expect(d).toMatchObject({ unsizedCache: "stream" });
    expect(d.unsizedUsd).toBeCloseTo(streamed.costUsd, 9);
    expect(sized.costUsd).toBeLessThan(streamed.costUsd);
    expect(sized.hours).toBeLessThan(streamed.hours / 3);
    expect(sized.why).toMatch(new RegExp(`^won: .*cache on a ${d.gb} GB disk sized at launch \\(\\+\\$0\\.\\d\\d/h, \\$\\d+\\.\\d\\d in all; streamed would cost \\$${streamed.costUsd.toFixed(2).replace(".", "\\.")}\\)`));
  });

  it("prices only the GB beyond what the offer's price includes", () => {
    const included = plan([card(sizing({ includedGb: 100 }))]).considered.find((o) => o.kind === "offer")!.launchDisk!;
    expect(included.usdPerHour).toBeCloseTo(((included.gb - 100) * 0.1) / HOURS_PER_MONTH, 9);
  });

  it("keeps streaming when the offer's largest disk is too small for the cache", () => {
    const o = plan([card(sizing({ maxGb: 300 }))]).considered.find((x) => x.kind === "offer")!;
    expect(o.launchDisk).toBeUndefined();
    expect(o.time?.cache.location).toBe("stream");
  });

  it("keeps streaming when the user turned the cache off", () => {
    const o = plan([card(sizing())], ", activation_cache: none").considered.find((x) => x.kind === "offer")!;
    expect(o.launchDisk).toBeUndefined();
  });

  it("keeps streaming when the sized disk would cost more than streaming saves", () => {
    const dear = plan([card(sizing({ usdPerGbMonth: 100 }))]).considered.find((x) => x.kind === "offer")!;
    expect(dear.launchDisk).toBeUndefined();
    expect(dear.time?.cache.location).toBe("stream");
  });

  it("sizes the disk whatever it costs when activation_cache: disk would not fit the offer's own", () => {
    // At $2/GB-month the disk costs more than the whole unsized run; it is taken anyway, and priced in.
    const o = plan([card(sizing({ usdPerGbMonth: 2 }))], ", activation_cache: disk").considered.find((x) => x.kind === "offer")!;
    expect(o.costUsd).toBeGreaterThan(o.launchDisk!.unsizedUsd);
    expect(o.launchDisk).toMatchObject({ unsizedCache: "disk" });
    expect(o.time?.cache).toMatchObject({ location: "disk", fits: true });
    expect(o.why).toMatch(/the offer's own disk is too small for activation_cache: disk/);
  });

  it("shows the size and its cost in `kiln plan` and carries it in --json", () => {
    const spec = job();
    const p = plan();
    const text = renderPlan(spec, p, undefined);
    const d = p.considered.find((o) => o.chosen)!.launchDisk!;
    expect(text).toContain(`disk (${d.gb} GB sized)`);
    expect(text).toMatch(new RegExp(`disk sized at launch: ${d.gb} GB at \\$0\\.10/GB-month = \\$0\\.\\d\\d/h, .* \\(test price\\); streaming the cache instead: \\$`));
    const json = JSON.parse(JSON.stringify(p)) as typeof p;
    expect(json.considered.find((o) => o.chosen)?.launchDisk).toMatchObject({ gb: d.gb, priceSource: "test price" });
  });
});

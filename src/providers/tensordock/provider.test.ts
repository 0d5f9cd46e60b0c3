// The pure parts of the TensorDock mapping: GPU names onto Kiln's canonical ones, the size and price Kiln rents
// at a location, offers per location and GPU, statuses, and which port SSH answers on.
import { describe, expect, it } from "vitest";
import { canonicalTensordockGpu } from "./gpu-names.js";
import { hourlyPrice, machineSize, offersFrom } from "./offers.js";
import { sshPortOf } from "./provider.js";
import type { TdLocation, TdLocationGpu } from "./schema.js";
import { tensordockState } from "./states.js";

const gpu = (o: Partial<TdLocationGpu> = {}): TdLocationGpu => ({
  v0Name: "h100-sxm5-80gb",
  displayName: "H100 SXM5 80GB",
  max_count: 8,
  price_per_hr: 2.2,
  resources: { max_vcpus: 128, max_ram_gb: 300, max_storage_gb: 1000 },
  pricing: { per_vcpu_hr: 0.003, per_gb_ram_hr: 0.002, per_gb_storage_hr: 0.00005 },
  network_features: { dedicated_ip_available: true, port_forwarding_available: true },
  ...o,
});
const loc = (id: string, gpus: TdLocationGpu[], city = "Austin"): TdLocation => ({ id, city, country: "United States", gpus });

describe("TensorDock GPU names", () => {
  it.each([
    ["h100-sxm5-80gb", undefined, "H100-80GB"],
    ["geforcertx4090-pcie-24gb", undefined, "RTX4090-24GB"],
    ["rtxa6000-pcie-48gb", undefined, "A6000-48GB"],
    ["a100-pcie-80gb", undefined, "A100-80GB"],
    ["a100-sxm4-40gb", undefined, "A100-40GB"],
    ["l40s-pcie-48gb", undefined, "L40S-48GB"],
    ["v100-sxm2-16gb", undefined, "V100-16GB"],
    ["geforcertx3090-pcie-24gb", undefined, "RTX3090-24GB"],
    ["odd-id", "NVIDIA GeForce RTX 4090 PCIe 24GB", "RTX4090-24GB"],
  ])("%s (%s) → %s", (v0, display, want) => {
    expect(canonicalTensordockGpu(v0, display)?.gpu).toBe(want);
  });
  it("a GPU Kiln does not know maps to nothing", () => {
    expect(canonicalTensordockGpu("quadrortx4000-pcie-8gb")).toBeUndefined();
  });
});

describe("TensorDock sizes, prices and offers", () => {
  it("rents 8 vCPUs and 32 GB per GPU and 200 GB of disk, cut to the location's limits on TensorDock's steps", () => {
    expect(machineSize(gpu(), 1)).toEqual({ vcpus: 8, ramGb: 32, diskGb: 200 });
    expect(machineSize(gpu(), 2)).toEqual({ vcpus: 16, ramGb: 64, diskGb: 200 });
    expect(machineSize(gpu({ resources: { max_vcpus: 7, max_ram_gb: 20, max_storage_gb: 175 } }), 1)).toEqual({ vcpus: 6, ramGb: 16, diskGb: 150 });
    // Under TensorDock's 100 GB minimum: cannot be rented there.
    expect(machineSize(gpu({ resources: { max_vcpus: 8, max_ram_gb: 32, max_storage_gb: 90 } }), 1)).toBeUndefined();
  });

  it("prices GPUs plus vCPUs, RAM and disk", () => {
    expect(hourlyPrice(gpu(), 1, { vcpus: 8, ramGb: 32, diskGb: 200 })).toBeCloseTo(2.2 + 0.024 + 0.064 + 0.01, 9);
    expect(hourlyPrice(gpu({ pricing: undefined }), 2, { vcpus: 16, ramGb: 64, diskGb: 200 })).toBe(4.4);
  });

  it("offers one per location and GPU with stock for the count; sold out or short locations are left out", () => {
    const locations = [
      loc("austin", [gpu(), gpu({ v0Name: "geforcertx4090-pcie-24gb", displayName: "RTX 4090", max_count: 1, price_per_hr: 0.35 })]),
      loc("winnipeg", [gpu({ max_count: 0 }), gpu({ v0Name: "geforcertx4090-pcie-24gb", max_count: 4, price_per_hr: 0.4 })], "Winnipeg"),
      loc("nowhere", [gpu({ v0Name: "mystery-pcie-12gb", displayName: "Mystery PCIe 12GB" })]),
    ];
    const any = offersFrom(locations, { gpus: "any", count: 1, minVramGb: 0, spot: "allowed" }, "2026-12-04");
    expect(any.map((o) => `${o.region}/${o.gpu}`)).toEqual(["austin/RTX4090-24GB", "winnipeg/RTX4090-24GB", "austin/H100-80GB"]);
    expect(any.every((o) => !o.spot && o.available === true && o.priceSource === "live" && o.diskGb === 200)).toBe(true);
    const two = offersFrom(locations, { gpus: ["RTX4090-24GB"], count: 2, minVramGb: 24, spot: "never" }, "2026-12-04");
    expect(two.map((o) => [o.region, o.gpuCount, o.vcpus, o.memoryGb])).toEqual([["winnipeg", 2, 16, 64]]);
    expect(offersFrom(locations, { gpus: "any", count: 1, minVramGb: 0, spot: "never", regions: ["winnipeg"] }, "2026-12-04").map((o) => o.region)).toEqual(["winnipeg"]);
    expect(offersFrom(locations, { gpus: "any", count: 1, minVramGb: 0, spot: "never", regions: ["AUSTIN"] }, "2026-12-04").map((o) => o.region)).toEqual(["austin", "austin"]);
    expect(offersFrom(locations, { gpus: "any", count: 1, minVramGb: 0, spot: "never", maxPricePerHour: 1 }, "2026-12-04").map((o) => o.gpu)).toEqual(["RTX4090-24GB", "RTX4090-24GB"]);
  });

  it("drops a price that is not believable, and says so", () => {
    const warnings: string[] = [];
    expect(offersFrom([loc("a", [gpu({ price_per_hr: 0, pricing: undefined })])], { gpus: "any", count: 1, minVramGb: 0, spot: "never" }, "2026-12-04", (m) => warnings.push(m))).toEqual([]);
    expect(warnings.join()).toMatch(/h100-sxm5-80gb in Austin, United States at \$0\/h/);
  });
});

describe("TensorDock statuses and SSH", () => {
  it("maps every documented status explicitly, in any case; anything else is unknown", () => {
    expect(["starting", "running", "stopping", "stopped", "StoppedDisassociated", "deleting", "deleted", "error", "Running"].map(tensordockState)).toEqual(["pending", "running", "stopping", "stopped", "stopped", "terminating", "terminated", "unhealthy", "running"]);
    expect(tensordockState("migrating")).toBe("unknown");
  });

  it("SSH answers on the port forwarded to 22, else on 22 (a dedicated IP)", () => {
    expect(sshPortOf({ portForwards: [{ internal: 80, external: 20001 }, { internal: 22, external: 20000 }] })).toBe(20000);
    expect(sshPortOf({ portForwards: [] })).toBe(22);
  });
});

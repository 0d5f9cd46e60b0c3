import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeNvidiaSmiEnv } from "./testing/fake-nvidia-smi.js";
import { type Exec, localExec } from "../../remote/exec.js";
import { canonicalGpuName, resolveGpuAlias } from "./names.js";
import { probeGpus } from "./probe.js";

/** A local Exec whose PATH serves the named fixture, so the real spawn path is exercised. */
const execWith = (fixture: string): Exec => {
  const env = fakeNvidiaSmiEnv(fixture);
  return { where: "local", run: (argv, o) => localExec.run(argv, { ...o, env: { ...o?.env, ...env } }) };
};

describe("probeGpus", () => {
  it.each([
    ["a100-40gb", "NVIDIA A100-SXM4-40GB", 40960, 40327, "550.54.15", "12.4", "A100-40GB"],
    ["a100-80gb", "NVIDIA A100 80GB PCIe", 81920, 81037, "535.183.01", "12.2", "A100-80GB"],
    ["h100", "NVIDIA H100 80GB HBM3", 81559, 80994, "560.35.03", "12.6", "H100-80GB"],
    ["rtx-4090", "NVIDIA GeForce RTX 4090", 24564, 22812, "550.120", "12.4", "RTX4090-24GB"],
    ["rtx-3060", "NVIDIA GeForce RTX 3060", 12288, 11523, "535.104.05", "12.2", "RTX3060-12GB"],
  ])("reads %s", async (fixture, name, total, free, driver, cuda, canonical) => {
    const probe = await probeGpus(execWith(fixture));
    expect(probe).toEqual({ kind: "ok", gpus: [{ index: 0, name, memoryTotalMiB: total, memoryFreeMiB: free, driverVersion: driver }], cudaVersion: cuda, driverVersion: driver });
    expect(canonicalGpuName(name, total)).toBe(canonical);
  });

  it("reads several GPUs", async () => {
    const probe = await probeGpus(execWith("two-gpus"));
    expect(probe.kind === "ok" && probe.gpus.map((g) => [g.index, g.memoryFreeMiB])).toEqual([
      [0, 1210],
      [1, 81014],
    ]);
  });

  it("reports an old driver's CUDA version", async () => {
    const probe = await probeGpus(execWith("old-driver"));
    expect(probe).toMatchObject({ kind: "ok", cudaVersion: "11.4", driverVersion: "470.256.02" });
  });

  it("asks nvidia-smi its two questions at once (each call can take hundreds of ms)", async () => {
    const log = join(mkdtempSync(join(tmpdir(), "kiln-smi-log-")), "calls");
    const env = { ...fakeNvidiaSmiEnv("a100-40gb"), FAKE_NVIDIA_SMI_DELAY: "0.8", FAKE_NVIDIA_SMI_LOG: log };
    const probe = await probeGpus({ where: "local", run: (argv, o) => localExec.run(argv, { ...o, env: { ...o?.env, ...env } }) });
    expect(probe).toMatchObject({ kind: "ok", cudaVersion: "12.4" });
    // Both calls started before either finished.
    expect(readFileSync(log, "utf8").split("\n").filter(Boolean)).toEqual(["start", "start", "end", "end"]);
  });

  it("treats a missing nvidia-smi as no GPU", async () => {
    expect(await probeGpus(execWith("none"))).toEqual({ kind: "missing" });
  });

  it("explains a driver/library mismatch", async () => {
    expect(await probeGpus(execWith("driver-mismatch"))).toEqual({
      kind: "failed",
      message:
        "Failed to initialize NVML: Driver/library version mismatch — the NVIDIA kernel module and user-space library versions differ (usually after a driver upgrade): reboot",
    });
  });

  it("explains a driver that is not loaded", async () => {
    const probe = await probeGpus(execWith("driver-not-loaded"));
    expect(probe.kind === "failed" && probe.message).toMatch(/couldn't communicate with the NVIDIA driver.* — the NVIDIA driver is not loaded/);
  });

  it("refuses output it cannot parse instead of guessing", async () => {
    const exec: Exec = { where: "test", run: async () => ({ code: 0, stdout: "0, NVIDIA A100, [N/A], [N/A], 550.1\n", stderr: "" }) };
    expect(await probeGpus(exec)).toEqual({ kind: "failed", message: 'unexpected nvidia-smi output: "0, NVIDIA A100, [N/A], [N/A], 550.1"' });
  });
});

describe("GPU names", () => {
  it("resolves the aliases users type", () => {
    expect(resolveGpuAlias("A100")).toEqual(["A100-80GB", "A100-40GB"]);
    expect(resolveGpuAlias("a100-40")).toEqual(["A100-40GB"]);
    expect(resolveGpuAlias("H100")).toEqual(["H100-80GB"]);
    expect(resolveGpuAlias("RTX 4090")).toEqual(["RTX4090-24GB"]);
    expect(resolveGpuAlias("A100-80GB")).toEqual(["A100-80GB"]);
    expect(resolveGpuAlias("TPU")).toEqual([]);
    // Full marketing names, as nvidia-smi or a provider's page spell them: every prefix word goes.
    expect(resolveGpuAlias("NVIDIA GeForce RTX 4090")).toEqual(["RTX4090-24GB"]);
    expect(resolveGpuAlias("Tesla V100")).toEqual(["V100-16GB"]);
    expect(resolveGpuAlias("NVIDIA RTX A6000")).toEqual(["A6000-48GB"]);
  });
});

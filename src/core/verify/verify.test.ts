// The checklist against machines made of fake tools on PATH (nvidia-smi fixtures, a python3 that prints
// recorded facts, df), run through localExec so the real spawn path is used; plus this computer as it is.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Exec, localExec } from "../../remote/exec.js";
import { type CheckResult, type MachineNeed, MachineNotReadyError, renderChecks, requireMachineReady, verifyMachine } from "./index.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const TOOLS = join(ROOT, "test", "fixtures", "fake-tools");
const SMI = join(ROOT, "test", "fixtures", "nvidia-smi");
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface FakeMachine {
  /** nvidia-smi fixture folder, or "none" for no nvidia-smi at all. */
  smi: string;
  /** python-facts/<name>.json */
  facts: string;
  dfAvailKb?: number;
  computeApps?: string;
}

function fakeMachine(m: FakeMachine): Exec {
  const bin = mkdtempSync(join(tmpdir(), "kiln-verify-bin-"));
  dirs.push(bin);
  symlinkSync(join(TOOLS, "python3"), join(bin, "python3"));
  symlinkSync(join(TOOLS, "df"), join(bin, "df"));
  if (m.smi !== "none") symlinkSync(join(TOOLS, "nvidia-smi"), join(bin, "nvidia-smi"));
  const env: Record<string, string> = {
    // /usr/bin for sh and cat only; this machine's real nvcc (/usr/local/bin) stays out of sight.
    PATH: `${bin}:/usr/bin:/bin`,
    FAKE_PYTHON_FACTS: join(TOOLS, "python-facts", `${m.facts}.json`),
    FAKE_NVIDIA_SMI_SCRIPT: join(SMI, "fake-nvidia-smi"),
    FAKE_NVIDIA_SMI_FIXTURE: join(SMI, m.smi),
    FAKE_DF_AVAIL_KB: String(m.dfAvailKb ?? 200 * 1024 * 1024),
  };
  if (m.computeApps !== undefined) {
    const f = join(bin, "apps.csv");
    writeFileSync(f, m.computeApps);
    env["FAKE_COMPUTE_APPS"] = f;
  }
  return { where: "fake-machine", run: (argv, o) => localExec.run(argv, { ...o, env: { ...o?.env, ...env } }) };
}

const gpuNeed = (over: Partial<MachineNeed> = {}): MachineNeed => ({
  gpu: { count: 1, minVramGb: 30, minFreeVramGb: 30 },
  minTorch: "2.4",
  bf16: "preferred",
  diskGb: 40,
  diskPath: "/",
  python: "python3",
  afterSetup: true,
  baseModel: "meta-llama/Llama-3.1-8B",
  hfTokenProvided: true,
  ...over,
});

const byId = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.id, r]));
const statuses = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.id, r.status]));

describe("verifyMachine", () => {
  it("passes a ready A100 and prints a table of measured values", async () => {
    const results = await verifyMachine(fakeMachine({ smi: "a100-40gb", facts: "a100-ready" }), gpuNeed());
    expect(results.every((r) => r.status === "pass")).toBe(true);
    expect(renderChecks("fake-machine", results)).toMatchInlineSnapshot(`
      "Verifying fake-machine

            CHECK                      MEASURED                                                     NEED
      ok    GPU present                NVIDIA A100-SXM4-40GB
      ok    VRAM total                 40.0 GiB per GPU                                             ≥ 30 GiB
      ok    VRAM free                  39.4 GiB of 40.0 GiB                                         ≥ 30 GiB
      ok    Driver / CUDA              driver 550.54.15, CUDA 12.4
      ok    Python                     3.10.12 (/usr/bin/python3)                                   ≥ 3.10
      ok    PyTorch                    2.5.1+cu121                                                  ≥ 2.4
      ok    torch.cuda.is_available()  True: NVIDIA A100-SXM4-40GB, torch CUDA 12.1
      ok    bf16 support               yes
      ok    Disk space                 200.0 GiB free on /                                          ≥ 40 GiB
      ok    Workload imports           kiln_sae 0.1.0
      ok    Hugging Face access        meta-llama/Llama-3.1-8B is gated; token provided (HF_TOKEN)

      11 passed, 0 warnings, 0 failed, 0 skipped
      "
    `);
  });

  it("no nvidia-smi: the GPU check fails with the driver advice, and the run gate throws with every result", async () => {
    const exec = fakeMachine({ smi: "none", facts: "a100-ready" });
    const err = await requireMachineReady(exec, gpuNeed()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MachineNotReadyError);
    const results = (err as MachineNotReadyError).results as CheckResult[];
    expect(byId(results)["gpu"]).toMatchObject({ status: "fail", measured: "nvidia-smi: command not found" });
    expect(byId(results)["gpu"]?.advice).toMatch(/driver may still be installing — wait 5 minutes and retry/);
    expect((err as MachineNotReadyError).message).toContain("nothing was started");
  });

  it("free VRAM short: fails and names the processes holding it", async () => {
    const exec = fakeMachine({ smi: "a100-40gb", facts: "a100-ready", computeApps: "4242, python3 train_other.py, 30000\n" });
    const r = byId(await verifyMachine(exec, gpuNeed({ gpu: { count: 1, minVramGb: 40, minFreeVramGb: 40 } })));
    expect(r["vram_free"]).toMatchObject({ status: "fail", measured: "39.4 GiB of 40.0 GiB", expected: "≥ 40 GiB" });
    expect(r["vram_free"]?.advice).toContain("pid 4242 python3 train_other.py 29.3 GiB");
    expect(r["vram_free"]?.advice).toContain("nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv");
  });

  it("two GPUs, one busy: passes on the free one and says which", async () => {
    const r = byId(await verifyMachine(fakeMachine({ smi: "two-gpus", facts: "a100-ready" }), gpuNeed({ gpu: { count: 1, minVramGb: 60, minFreeVramGb: 60 } })));
    expect(r["gpu"]?.measured).toBe("2× NVIDIA A100-SXM4-80GB");
    expect(r["vram_free"]).toMatchObject({ status: "pass", measured: "GPU 0: 1.2 GiB, GPU 1: 79.1 GiB (use GPU 1: others are busy)" });
  });

  it("torch built for a newer CUDA than the driver: the exact reinstall for the driver's CUDA", async () => {
    const r = byId(await verifyMachine(fakeMachine({ smi: "a100-40gb", facts: "cuda-too-new" }), gpuNeed()));
    expect(r["torch_cuda"]).toMatchObject({ status: "fail", measured: "False: torch built for CUDA 12.6, driver supports ≤ 12.4" });
    expect(r["torch_cuda"]?.advice).toBe(
      "Reinstall PyTorch for this driver: python3 -m pip install --upgrade --force-reinstall 'torch>=2.4' --index-url https://download.pytorch.org/whl/cu124",
    );
  });

  it("Lambda Stack's old torch: a warning before setup (setup installs one), a failure after", async () => {
    const exec = fakeMachine({ smi: "a100-40gb", facts: "lambda-stack-old-torch" });
    const before = await verifyMachine(exec, gpuNeed({ afterSetup: false }));
    expect(statuses(before)).toMatchObject({ torch: "warn", workload: "skip" });
    expect(before.some((r) => r.status === "fail")).toBe(false);
    const after = byId(await verifyMachine(exec, gpuNeed()));
    expect(after["torch"]).toMatchObject({ status: "fail", measured: "2.0.1+cu118" });
    expect(after["workload"]).toMatchObject({ status: "fail", measured: "ModuleNotFoundError: No module named 'kiln_sae'" });
  });

  it("a driver too old for any torch≥2.4 wheel", async () => {
    const r = byId(await verifyMachine(fakeMachine({ smi: "old-driver", facts: "a100-ready" }), gpuNeed()));
    expect(r["driver"]).toMatchObject({ status: "fail", measured: "driver 470.256.02, CUDA 11.4", expected: "CUDA ≥ 11.8" });
  });

  it("a broken driver (library mismatch) is reported with nvidia-smi's own words", async () => {
    const r = byId(await verifyMachine(fakeMachine({ smi: "driver-mismatch", facts: "a100-ready" }), gpuNeed()));
    expect(r["gpu"]?.status).toBe("fail");
    expect(r["gpu"]?.measured).toMatch(/Driver\/library version mismatch/);
  });

  it("no bf16 on a T4: fails when the spec requires it, warns otherwise; a missing dependency fails the import check", async () => {
    const exec = fakeMachine({ smi: "a100-40gb", facts: "turing-no-bf16" });
    expect(byId(await verifyMachine(exec, gpuNeed({ bf16: "required" })))["bf16"]?.status).toBe("fail");
    const r = byId(await verifyMachine(exec, gpuNeed()));
    expect(r["bf16"]?.status).toBe("warn");
    expect(r["workload"]).toMatchObject({ status: "fail", measured: "kiln_sae 0.1.0, missing: yaml" });
  });

  it("a gated model without a token points at the licence page", async () => {
    const r = byId(await verifyMachine(fakeMachine({ smi: "a100-40gb", facts: "cuda-too-new" }), gpuNeed({ hfTokenProvided: false })));
    expect(r["hf_access"]).toMatchObject({ status: "fail", measured: "meta-llama/Llama-3.1-8B is gated; no token" });
    expect(r["hf_access"]?.advice).toContain("https://huggingface.co/meta-llama/Llama-3.1-8B");
  });

  it("low disk fails; a missing interpreter fails the Python check", async () => {
    const r = byId(await verifyMachine(fakeMachine({ smi: "a100-40gb", facts: "a100-ready", dfAvailKb: 10 * 1024 * 1024 }), gpuNeed({ python: "python3-kiln-absent" })));
    expect(r["disk"]).toMatchObject({ status: "fail", measured: "10.0 GiB free on /", expected: "≥ 40 GiB" });
    expect(r["python"]).toMatchObject({ status: "fail", measured: "python3-kiln-absent: not found" });
  });

  it("a CPU-only job skips every GPU check with the reason", async () => {
    const need = gpuNeed({ gpu: { cpuOnly: "the plan runs it on CPU" }, diskGb: 2, baseModel: undefined, hfTokenProvided: false });
    const results = await verifyMachine(fakeMachine({ smi: "none", facts: "cpu-only-torch" }), need);
    expect(statuses(results)).toEqual({
      gpu: "skip",
      vram_total: "skip",
      vram_free: "skip",
      driver: "skip",
      python: "pass",
      torch: "pass",
      torch_cuda: "skip",
      bf16: "skip",
      disk: "pass",
      workload: "pass",
      hf_access: "skip",
    });
    expect(results[0]?.measured).toBe("CPU-only job: the plan runs it on CPU");
  });

  it("this computer, through the repository's venv (real torch import)", async () => {
    const need = gpuNeed({ gpu: { cpuOnly: "demo" }, python: join(ROOT, ".venv", "bin", "python"), diskGb: 1, diskPath: ROOT, baseModel: undefined });
    const r = byId(await verifyMachine(localExec, need));
    expect(r["python"]?.status).toBe("pass");
    expect(r["torch"]).toMatchObject({ status: "pass", measured: expect.stringMatching(/^2\.\d+/) });
    expect(r["workload"]).toMatchObject({ status: "pass", measured: expect.stringMatching(/^kiln_sae /) });
    expect(r["disk"]?.status).not.toBe("skip");
  }, 60_000);
});

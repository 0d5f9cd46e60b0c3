// `kiln verify` in-process: on this computer as it is (no GPU: the demo job is CPU-only, so GPU checks
// are skipped with the reason), with a fake nvidia-smi for GPU jobs, and as JSON.
import { execFileSync } from "node:child_process";
import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fakeNvidiaSmiEnv } from "../../core/gpu/testing/fake-nvidia-smi.js";
import { startSshd, sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");

/** No nvidia-smi at all, but the real df (the fake-nvidia-smi helper's PATH holds only its own dir). */
function noGpuEnv(): Record<string, string> {
  const env = fakeNvidiaSmiEnv("none");
  symlinkSync(execFileSync("sh", ["-c", "command -v df"], { encoding: "utf8" }).trim(), join(env["PATH"]!, "df"));
  return env;
}

/** A fake nvidia-smi and a fake df (100 GiB free): the GPU job needs 40 GiB, and this machine's own free
 *  space must not decide these tests (a CI disk with 38.8 GiB free failed the --json one). */
function gpuEnv(fixture: string): Record<string, string> {
  const env = fakeNvidiaSmiEnv(fixture);
  symlinkSync(join(ROOT, "test", "fixtures", "fake-tools", "df"), join(env["PATH"]!.split(":")[0]!, "df"));
  return env;
}

async function kiln(env: Record<string, string>, ...argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-verify-")), ...env }, cwd: ROOT });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe("kiln verify", () => {
  it("checks this computer for the CPU demo: GPU checks skipped with the reason, the rest measured", async () => {
    const r = await kiln(noGpuEnv(), "verify", "examples/sae-pii-local.yaml");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Verifying this computer");
    expect(lines.find((l) => l.includes("GPU present"))).toMatch(/^skip +GPU present +CPU-only job: /);
    expect(lines.find((l) => l.includes("PyTorch"))).toMatch(/^ok +PyTorch +2\.\d+\.\d+\S* +≥ 2\.4$/);
    expect(lines.find((l) => l.includes("Workload imports"))).toMatch(/^ok +Workload imports +kiln_sae /);
    expect(lines.find((l) => l.includes("Disk space"))).toMatch(/^ok +Disk space +[\d.]+ GiB free on /);
    expect(r.stdout).toMatch(/\d passed, \d warnings?, 0 failed, 7 skipped\n$/);
  }, 60_000);

  // A GPU job whose interpreter is the fake python3 (recorded facts of a ready machine), so no torch import.
  function gpuJob(): string {
    const dir = mkdtempSync(join(tmpdir(), "kiln-verify-job-"));
    writeFileSync(
      join(dir, "job.yaml"),
      `name: big
resources: {providers: [local], min_vram_gb: 20}
budget: {max_usd: 5}
workload:
  type: sae-pii
  python: ${join(ROOT, "test", "fixtures", "fake-tools", "python3")}
  sae: {base_model: meta-llama/Llama-3.1-8B, layer: 12, k: 64, tokens: 1000000, device: cuda,
        dataset: {name: lmsys/lmsys-chat-1m}}
`,
    );
    return join(dir, "job.yaml");
  }
  const readyFacts = { FAKE_PYTHON_FACTS: join(ROOT, "test", "fixtures", "fake-tools", "python-facts", "a100-ready.json"), HF_HUB_OFFLINE: "1" };

  it("a GPU job on a machine with a small GPU fails with advice and exit code 1", async () => {
    const r = await kiln({ ...gpuEnv("rtx-3060"), ...readyFacts, HF_TOKEN: "" }, "verify", gpuJob(), "--here");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL +VRAM total +12\.0 GiB per GPU +≥ 20 GiB$/m);
    expect(r.stdout).toMatch(/→ This GPU is too small for the job/);
    // No HF_TOKEN here, but the machine has one configured (huggingface-cli login): that is enough.
    expect(r.stdout).toMatch(/^ok +Hugging Face access +meta-llama\/Llama-3\.1-8B is gated; token found on the machine$/m);
  });

  it("--json gives the same results as a document", async () => {
    const r = await kiln({ ...gpuEnv("a100-40gb"), ...readyFacts, HF_TOKEN: "hf-token-for-test" }, "verify", gpuJob(), "--json");
    const doc = JSON.parse(r.stdout) as { job: string; machine: string; ok: boolean; checks: Array<{ id: string; status: string }> };
    expect(doc).toMatchObject({ job: "big", machine: "local" });
    expect(doc.checks.map((c) => c.id)).toEqual(["gpu", "vram_total", "vram_free", "driver", "python", "torch", "torch_cuda", "bf16", "disk", "workload", "hf_access"]);
    expect(doc.checks.filter((c) => c.status !== "pass")).toEqual([]);
    expect(doc.ok).toBe(true);
    expect(r.code).toBe(0);
  });

  it("asks the Hub (a loopback stand-in) whether the token can read a gated model", async () => {
    const seen: Array<string | undefined> = [];
    const hubServer = createServer((req, res) => {
      seen.push(req.headers.authorization);
      // Gated: 401 without a token, 403 for a token whose account has not accepted the licence.
      const code = req.headers.authorization === "Bearer hf-accepted" ? 302 : req.headers.authorization ? 403 : 401;
      res.writeHead(code, code === 302 ? { location: "https://cdn.example/config.json" } : { "x-error-code": "GatedRepo" }).end();
    });
    await new Promise<void>((ok) => hubServer.listen(0, "127.0.0.1", ok));
    const endpoint = `http://127.0.0.1:${(hubServer.address() as AddressInfo).port}`;
    try {
      const base = { ...gpuEnv("a100-40gb"), ...readyFacts, HF_HUB_OFFLINE: "", HF_ENDPOINT: endpoint };
      const denied = await kiln({ ...base, HF_TOKEN: "hf-not-accepted" }, "verify", gpuJob());
      expect(denied.code).toBe(1);
      expect(denied.stdout).toMatch(/^FAIL +Hugging Face access +meta-llama\/Llama-3\.1-8B: HF_TOKEN has no access \(HTTP 403\) +licence accepted$/m);
      expect(denied.stdout).toContain("accept its licence at https://huggingface.co/meta-llama/Llama-3.1-8B");
      const ok = await kiln({ ...base, HF_TOKEN: "hf-accepted" }, "verify", gpuJob());
      expect(ok.stdout).toMatch(/^ok +Hugging Face access +meta-llama\/Llama-3\.1-8B: readable with HF_TOKEN \(asked the Hub\)$/m);
      expect(seen).toEqual(["Bearer hf-not-accepted", "Bearer hf-accepted"]);
      expect(denied.stdout + denied.stderr).not.toContain("hf-not-accepted");
    } finally {
      hubServer.close();
    }
  });

  // Skipped only where openssh-server is not installed (.ci/run installs it).
  it.skipIf(!sshdAvailable)("provider ssh: checks the resources.ssh host over a real sshd", async () => {
    const sshd = await startSshd();
    try {
      const tools = join(ROOT, "test", "fixtures", "fake-tools");
      for (const tool of ["python3", "df", "nvidia-smi"]) sshd.installCommand(tool, `#!/bin/sh\nexec ${join(tools, tool)} "$@"\n`);
      sshd.setEnv({
        FAKE_PYTHON_FACTS: join(tools, "python-facts", "lambda-stack-old-torch.json"),
        FAKE_NVIDIA_SMI_SCRIPT: join(ROOT, "test", "fixtures", "nvidia-smi", "fake-nvidia-smi"),
        FAKE_NVIDIA_SMI_FIXTURE: join(ROOT, "test", "fixtures", "nvidia-smi", "a100-40gb"),
      });
      const dir = mkdtempSync(join(tmpdir(), "kiln-verify-ssh-job-"));
      const t = sshd.target();
      writeFileSync(
        join(dir, "job.yaml"),
        `name: lab-box
resources: {providers: [ssh], min_vram_gb: 30, ssh: {host: ${t.host}, port: ${t.port}, user: ${t.user}, key: ${t.privateKeyPath}}}
budget: {max_usd: 5}
workload:
  type: sae-pii
  sae: {base_model: minilm, layer: 3, tokens: 100000, dataset: {path: data.jsonl}}
`,
      );
      const r = await kiln({}, "verify", join(dir, "job.yaml"));
      // First contact: the host key is pinned (trust on first use) and the user is told.
      expect(r.stderr).toMatch(/^pinned the host key of \[127\.0\.0\.1\]:\d+/);
      expect(r.stdout.split("\n")[0]).toBe(`Verifying ${t.user}@${t.host}:${t.port}`);
      // Lambda Stack's torch 2.0.1 before setup: a warning (setup installs its own), not a failure.
      expect(r.stdout).toMatch(/^WARN +PyTorch +2\.0\.1\+cu118 +≥ 2\.4$/m);
      expect(r.stdout).toMatch(/^ok +VRAM free +39\.4 GiB of 40\.0 GiB +≥ 30 GiB$/m);
      expect(r.code).toBe(0);
    } finally {
      await sshd.cleanup();
    }
  }, 60_000);

  it("a job planned for a cloud has no machine to check yet", async () => {
    const r = await kiln(fakeNvidiaSmiEnv("none"), "verify", "examples/llama-8b-sae-pii.yaml");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is planned for [a-z]+ .*kiln run/);
    expect(r.stderr).toContain("--here");
  }, 60_000);
});

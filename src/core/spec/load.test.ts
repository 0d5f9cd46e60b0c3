import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { loadJobSpec, parseJobSpec } from "./load.js";

const VALID = `
name: demo
resources: {providers: [local, lambda], gpu: [A100-40GB]}
budget: {max_usd: 20}
workload:
  type: sae-pii
  sae:
    base_model: minilm
    layer: 3
    dataset: {path: data.jsonl}
    tokens: 100000
`;

/** The problem lines of a spec that must fail, without the "  - " bullets. */
function problems(text: string): string[] {
  try {
    parseJobSpec(text, "job.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).exitCode).toBe(2);
    return (e as UserError).message.split("\n").slice(1).map((l) => l.replace(/^ {2}- /, ""));
  }
  throw new Error("spec unexpectedly valid");
}

/** VALID with one top-level section replaced. */
const withSection = (section: string, yaml: string) => {
  const lines = VALID.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`${section}:`));
  let end = start + 1;
  while (end < lines.length && /^\s/.test(lines[end]!)) end++;
  return [...lines.slice(0, start), yaml, ...lines.slice(end)].join("\n");
};

describe("parseJobSpec", () => {
  it("accepts a valid spec and fills control-plane defaults", () => {
    const spec = parseJobSpec(VALID, "job.yaml");
    expect(spec.resources).toEqual({ gpu: ["A100-40GB"], count: 1, min_vram_gb: "auto", spot: "never", providers: ["local", "lambda"], max_restarts: 3 });
    expect(spec.budget.alert_fractions).toEqual([0.5, 0.8, 0.95]);
    expect(spec.artifacts).toEqual({ paths: ["outputs/**"], sync_interval: 300 });
    expect(spec.workload.type).toBe("sae-pii");
    // SAE defaults belong to Python: not filled in here.
    if (spec.workload.type === "sae-pii") expect(spec.workload.sae.k).toBeUndefined();
  });

  it("accepts a command workload with argv and string commands", () => {
    const spec = parseJobSpec(withSection("workload", "workload: {type: command, setup: [[pip, install, x]], run: ['python train.py'], env: {A: '1'}}"), "j");
    expect(spec.workload).toEqual({ type: "command", setup: [["pip", "install", "x"]], run: ["python train.py"], env: { A: "1" } });
  });

  const cases: [string, string, string[]][] = [
    ["a word where a number belongs", withSection("resources", "resources: {min_vram_gb: forty}"), ['resources.min_vram_gb: expected a number ≥ 1 or "auto", got "forty"']],
    ["a misspelt key, with a suggestion", withSection("resources", "resources: {gpus: [A100]}"), ['resources.gpus: unknown key (did you mean "gpu"?)']],
    ["an unknown provider", withSection("resources", "resources: {providers: [local, lamda]}"), [
      'resources.providers[1]: expected one of "local", "ssh", "lambda", "runpod", "tensordock", "thunder", "northflank", "aws", "gcp", "azure", "kubernetes", got "lamda"',
    ]],
    ["a negative budget", withSection("budget", "budget: {max_usd: -5}"), ["budget.max_usd: expected a dollar amount > 0, got -5"]],
    ["a missing budget", withSection("budget", ""), ["budget: is required"]],
    ["a name that is not a slug", VALID.replace("name: demo", "name: My Job"), ['name: expected a lowercase slug (a-z, 0-9, -; at most 63 characters), got "My Job"']],
    ["an unknown workload type", withSection("workload", "workload: {type: docker}"), ['workload.type: expected `type: sae-pii` or `type: command`, got "docker"']],
    ["a webhook URL instead of an env var name", `${VALID}alerts: {webhook_env: "https://hooks.slack.com/services/T0/B0/xyz"}\n`, [
      "alerts.webhook_env: looks like a URL; put the webhook URL in an environment variable and give its NAME here (e.g. KILN_WEBHOOK_URL)",
    ]],
    ["both latents and expansion_factor", VALID.replace("layer: 3", "layer: 3\n    latents: 4096\n    expansion_factor: 8"), ["workload.sae.latents: set either `latents` or `expansion_factor`, not both"]],
    ["neither epochs nor tokens", VALID.replace("    tokens: 100000\n", ""), ["workload.sae.epochs: set one of `epochs` or `tokens` (how long to train)"]],
    ["a fractional layer", VALID.replace("layer: 3", "layer: 2.5"), ["workload.sae.layer: expected an integer ≥ 0, got 2.5"]],
    ["k on a relu SAE", VALID.replace("layer: 3", "layer: 3\n    architecture: relu\n    k: 32"), ["workload.sae.k: `k` applies to architecture topk only"]],
    ["a dataset with both path and name", VALID.replace("{path: data.jsonl}", "{path: data.jsonl, name: lmsys/lmsys-chat-1m}"), [
      "workload.sae.dataset: set exactly one of `path` (local data) or `name` (a Hugging Face dataset)",
    ]],
    ["an unknown dataset format", VALID.replace("{path: data.jsonl}", "{path: data.jsonl, format: csv}"), [
      'workload.sae.dataset.format: expected one of "auto", "lmsys", "jsonl", "text", "parquet", got "csv"',
    ]],
    ["provider ssh without a host", withSection("resources", "resources: {providers: [ssh]}"), ["resources.ssh: provider `ssh` needs `resources.ssh: {host, user, port, key}`"]],
    ["an out-of-range ssh port", withSection("resources", "resources: {providers: [ssh], ssh: {host: gpu.lan, port: 70000}}"), [
      "resources.ssh.port: expected an integer from 1 to 65535, got 70000",
    ]],
    ["an alert fraction above 1", withSection("budget", "budget: {max_usd: 5, alert_fractions: [0.5, 1.5]}"), ["budget.alert_fractions[1]: expected a fraction between 0 and 1, got 1.5"]],
    ["a command workload with no run step", withSection("workload", "workload: {type: command, run: []}"), ["workload.run: expected at least one command, got []"]],
    ["a string where a list belongs", withSection("resources", "resources: {gpu: A100-40GB}"), ['resources.gpu: expected a list of GPU names (e.g. [A100-40GB, H100]) or "any", got "A100-40GB"']],
    ["k above latents", VALID.replace("layer: 3", "layer: 3\n    latents: 16\n    k: 32"), ["workload.sae.k: must be ≤ latents (16), got 32"]],
    ["accumulation that does not divide the batch", VALID.replace("layer: 3", "layer: 3\n    batch_size: 1000\n    gradient_accumulation_steps: 3"), [
      "workload.sae.gradient_accumulation_steps: must divide batch_size (1000), got 3",
    ]],
    ["an unknown GPU", withSection("resources", "resources: {gpu: [A100, TPUv5]}"), [
      'resources.gpu[1]: unknown GPU; use a name like H200-141GB, GH200-96GB, H100-80GB, A100-80GB, A100-40GB, L40S-48GB or an alias (A100, h100, 4090), got "TPUv5"',
    ]],
    ["a duplicate provider", withSection("resources", "resources: {providers: [local, local]}"), ["resources.providers: lists a provider twice"]],
  ];
  it.each(cases)("rejects %s", (_what, text, expected) => {
    expect(problems(text)).toEqual(expected);
  });

  it("reports every problem at once", () => {
    const text = withSection("resources", "resources: {min_vram_gb: forty, spot: sometimes}").replace("layer: 3", "layer: -1");
    expect(problems(text)).toEqual([
      'resources.min_vram_gb: expected a number ≥ 1 or "auto", got "forty"',
      'resources.spot: expected one of "never", "allowed", "prefer", got "sometimes"',
      "workload.sae.layer: expected an integer ≥ 0, got -1",
    ]);
  });

  it("reports YAML syntax errors with line and column", () => {
    expect(problems("name: demo\nbudget: {max_usd: 5\n")).toEqual([expect.stringMatching(/^job\.yaml:3:1: /)]);
    expect(problems("name: a\nname: b\n")).toEqual(["job.yaml:2:1: Map keys must be unique"]);
  });

  it("rejects an empty file", () => {
    expect(problems("")).toEqual(["the file is empty; expected a mapping with name, budget and workload"]);
  });
});

describe("loadJobSpec", () => {
  it("reads a file, and names a missing one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-spec-"));
    writeFileSync(join(dir, "job.yaml"), VALID);
    expect((await loadJobSpec(join(dir, "job.yaml"))).name).toBe("demo");
    await expect(loadJobSpec(join(dir, "nope.yaml"))).rejects.toThrow(/job spec not found: .*nope\.yaml/);
  });
});

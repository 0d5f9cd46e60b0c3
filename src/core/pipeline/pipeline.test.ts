import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { jobLayout } from "../job/layout.js";
import { parseJobSpec } from "../spec/index.js";
import { choosePython } from "./python.js";
import { buildPipeline } from "./steps.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-pipeline-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("buildPipeline", () => {
  it("sae-pii: ensure-python when the venv is missing, train, then probe when the workload has it", () => {
    const repo = join(dir, "repo");
    mkdirSync(join(repo, "workload", "kiln_sae", "commands"), { recursive: true });
    writeFileSync(join(repo, "workload", "kiln_sae", "commands", "probe.py"), "");
    writeFileSync(join(dir, "data.jsonl"), "{}\n");
    const spec = parseJobSpec(
      "name: demo\nbudget: { max_usd: 1 }\nworkload:\n  type: sae-pii\n  sae: { base_model: minilm, layer: 3, context_size: 128, dataset: { path: data.jsonl }, tokens: 1000, output_dir: elsewhere, model_shape: { d_model: 384, n_layers: 6, params: 22700000 } }\n  probe: { epochs: 5 }\n",
      "demo.yaml",
    );
    const layout = jobLayout(join(dir, "jobs"), "j1");
    const python = choosePython(undefined, dir, repo);
    expect(python.ensureScript).toBe(join(repo, "scripts", "ensure-python.sh"));
    const steps = buildPipeline({ spec, layout, specDir: dir, python, repoRoot: repo });
    expect(steps.map((s) => s.name)).toEqual(["python-env", "train", "probe"]);
    expect(steps[1]!.argv).toEqual([join(repo, ".venv", "bin", "python"), "-m", "kiln_sae", "train", "--config", join(layout.dir, "sae.yaml")]);
    expect(steps[1]!.metrics).toBe(join(layout.outputs, "sae", "metrics.jsonl"));
    const sae = parse(readFileSync(join(layout.dir, "sae.yaml"), "utf8"));
    // Kiln owns where outputs go; the dataset path is resolved against the spec's directory.
    expect(sae).toMatchObject({ output_dir: join(layout.outputs, "sae"), dataset: { path: join(dir, "data.jsonl") } });
    // model_shape is the planner's; kiln_sae rejects keys it does not know.
    expect(sae).not.toHaveProperty("model_shape");
    expect(parse(readFileSync(join(layout.dir, "probe.yaml"), "utf8"))).toEqual({
      base_model: "minilm",
      layer: 3,
      context_size: 128,
      epochs: 5,
      sae: join(layout.outputs, "sae", "sae"),
      output_dir: join(layout.outputs, "probe"),
    });
  });

  it("sae-pii: the probe starts from the shipped detector's config, copied into the job dir with its evaluation sets made absolute", () => {
    writeFileSync(join(dir, "data.jsonl"), "{}\n");
    const spec = parseJobSpec("name: demo\nbudget: { max_usd: 1 }\nworkload:\n  type: sae-pii\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 1000 }\n  probe: { epochs: 20 }\n", "demo.yaml");
    const layout = jobLayout(join(dir, "jobs"), "j3");
    buildPipeline({ spec, layout, specDir: dir, python: { python: "python3" } });
    const probe = parse(readFileSync(join(layout.dir, "probe.yaml"), "utf8")) as Record<string, unknown>;
    // The spec's own settings stay on top of the base's (kiln_sae probe merges `extends` under them).
    expect(probe).toMatchObject({ extends: "probe-base.yaml", layer: 3, epochs: 20 });
    const base = parse(readFileSync(join(layout.dir, "probe-base.yaml"), "utf8")) as { eval_sets: Record<string, string>; generator: string };
    expect(base.generator).toBe("compose");
    expect(Object.keys(base.eval_sets).sort()).toEqual(["dev", "presidio_evaluator"]);
    for (const p of Object.values(base.eval_sets)) expect(existsSync(p), p).toBe(true);
  });

  it("command: setup then run through /bin/sh for strings, argv as given, with the metrics env", () => {
    const spec = parseJobSpec('name: cmd\nbudget: { max_usd: 1 }\nworkload:\n  type: command\n  setup: ["pip install -r req.txt"]\n  run: [[python3, train.py, "--x", "a b"]]\n  workdir: code\n  env: { SEED: "1" }\n', "cmd.yaml");
    const layout = jobLayout(join(dir, "jobs"), "j2");
    const steps = buildPipeline({ spec, layout, specDir: dir, python: { python: "python3" } });
    expect(steps.map((s) => [s.name, s.argv, s.cwd])).toEqual([
      ["setup-1", ["/bin/sh", "-c", "pip install -r req.txt"], join(dir, "code")],
      ["run", ["python3", "train.py", "--x", "a b"], join(dir, "code")],
    ]);
    expect(steps[1]!.env).toMatchObject({ SEED: "1", KILN_JOB_ID: "j2", KILN_METRICS_FILE: join(layout.outputs, "metrics.jsonl") });
  });

  it("a workload.python that does not exist is the user's error", () => {
    expect(() => choosePython("nope/bin/python", dir)).toThrow(/workload.python: .*nope\/bin\/python does not exist/);
  });
});

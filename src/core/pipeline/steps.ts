/**
 * From a job spec to the supervisor's steps. `sae-pii` is the user's whole pipeline: train the SAE
 * (`python -m kiln_sae train`), then the PII probe on its latents (`python -m kiln_sae probe`, once the
 * workload ships that command). `command` runs the spec's setup commands, then its run commands.
 * Engine configs are written into the job dir so a resume re-reads exactly what the first run used.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import type { JobLayout } from "../job/layout.js";
import type { Step } from "../job/run-file.js";
import { type JobSpec, engineConfig } from "../spec/index.js";
import { type PythonChoice, REPO_ROOT } from "./python.js";

export interface PipelineInput {
  spec: JobSpec;
  layout: JobLayout;
  /** Directory of the spec file: relative paths in the spec are relative to it. */
  specDir: string;
  python: PythonChoice;
  repoRoot?: string;
}

/** Paths the user wrote relative to their spec file; absolute and missing ones are left alone. */
function resolveUserPath(p: string, specDir: string): string {
  if (isAbsolute(p)) return p;
  const candidate = resolve(specDir, p);
  return existsSync(candidate) ? candidate : p;
}

const shellStep = (cmd: string | string[]): string[] => (typeof cmd === "string" ? ["/bin/sh", "-c", cmd] : cmd);

/** The shipped PII detector's configuration (issue 13): every sae-pii job's probe starts from it. */
const PII_BASE = join("workload", "configs", "pii-best.yaml");

/**
 * Copy the shipped detector's config into the job dir as the probe's base (`extends: probe-base.yaml`), with its
 * evaluation sets made absolute: a copy in the job dir travels with the job to a rented machine, where the sets
 * (bench/ and workload/tests/ stay home) are missing and `kiln_sae probe` skips them with a log line.
 */
function stageProbeBase(repoRoot: string, jobDir: string): string | undefined {
  const src = join(repoRoot, PII_BASE);
  if (!existsSync(src)) return undefined;
  const base = (parse(readFileSync(src, "utf8")) ?? {}) as Record<string, unknown>;
  const sets = base["eval_sets"];
  if (sets && typeof sets === "object") {
    base["eval_sets"] = Object.fromEntries(Object.entries(sets as Record<string, string>).map(([k, v]) => [k, resolve(dirname(src), v)]));
  }
  writeFileSync(join(jobDir, "probe-base.yaml"), stringify(base));
  return "probe-base.yaml";
}

export function buildPipeline(input: PipelineInput): Step[] {
  const { spec, layout } = input;
  const repoRoot = input.repoRoot ?? REPO_ROOT;
  mkdirSync(layout.outputs, { recursive: true });
  const steps: Step[] = [];
  const jobEnv = { KILN_JOB_ID: layout.dir.split("/").pop() ?? "", KILN_JOB_DIR: layout.dir };
  const w = spec.workload;
  if (w.type === "sae-pii") {
    if (input.python.ensureScript) {
      steps.push({ name: "python-env", argv: ["bash", input.python.ensureScript], cwd: repoRoot, env: jobEnv });
    }
    const saeOut = join(layout.outputs, "sae");
    // engineConfig drops the keys only Kiln reads (model_shape): kiln_sae rejects unknown keys.
    const sae: Record<string, unknown> = { ...engineConfig(w.sae, spec.name), output_dir: saeOut };
    if (w.sae.dataset.path !== undefined) sae["dataset"] = { ...w.sae.dataset, path: resolveUserPath(w.sae.dataset.path, input.specDir) };
    const saeConfig = join(layout.dir, "sae.yaml");
    writeFileSync(saeConfig, stringify(sae));
    const pyEnv = { ...jobEnv, PYTHONUNBUFFERED: "1" };
    steps.push({ name: "train", argv: [input.python.python, "-m", "kiln_sae", "train", "--config", saeConfig], cwd: layout.dir, env: pyEnv, metrics: join(saeOut, "metrics.jsonl"), outputDir: saeOut });
    if (existsSync(join(repoRoot, "workload", "kiln_sae", "commands", "probe.py"))) {
      const probeOut = join(layout.outputs, "probe");
      const probeConfig = join(layout.dir, "probe.yaml");
      // The probe reads the trained SAE from <sae output>/sae (where `kiln_sae train` exports it) and
      // hooks the same model and layer unless the spec's probe section says otherwise.
      const shared: Record<string, unknown> = { base_model: w.sae.base_model, layer: w.sae.layer };
      if (w.sae.context_size !== undefined) shared["context_size"] = w.sae.context_size;
      if (w.sae.model_kind !== undefined) shared["model_kind"] = w.sae.model_kind;
      // The shipped detector's settings by default; the spec's probe section overrides any of them (and the
      // trained SAE fixes the model and layer: `kiln_sae probe` drops the base's layers and SAE recipe).
      const base = stageProbeBase(repoRoot, layout.dir);
      if (base !== undefined) shared["extends"] = base;
      writeFileSync(probeConfig, stringify({ ...shared, ...w.probe, sae: join(saeOut, "sae"), output_dir: probeOut }));
      steps.push({ name: "probe", argv: [input.python.python, "-m", "kiln_sae", "probe", "--config", probeConfig], cwd: layout.dir, env: pyEnv, metrics: join(probeOut, "metrics.jsonl"), outputDir: probeOut });
    }
    return steps;
  }
  const cwd = w.workdir ? resolve(input.specDir, w.workdir) : input.specDir;
  const metrics = join(layout.outputs, "metrics.jsonl");
  // Commands learn where to write through the environment, so any program can speak the protocol.
  const env = { ...w.env, ...jobEnv, KILN_OUTPUT_DIR: layout.outputs, KILN_METRICS_FILE: metrics };
  w.setup.forEach((cmd, i) => {
    steps.push({ name: `setup-${i + 1}`, argv: shellStep(cmd), cwd, env });
  });
  w.run.forEach((cmd, i) => {
    steps.push({ name: w.run.length === 1 ? "run" : `run-${i + 1}`, argv: shellStep(cmd), cwd, env, metrics, outputDir: layout.outputs });
  });
  return steps;
}

// The TS mirror of the SAE engine config must not drift from kiln_sae.config (Python owns it): same keys,
// same enum values, and the examples' configs must pass Python's own validation.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jobSpecJsonSchema } from "./json-schema.js";
import { loadJobSpec } from "./load.js";
import { engineConfig } from "./sae-config.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
// The venv is created by scripts/ensure-python.sh (bin/test runs it first); without it there is no Python side to compare.
const hasVenv = existsSync(PYTHON);

type Schema = { properties?: Record<string, Schema>; anyOf?: Schema[]; oneOf?: Schema[]; enum?: unknown[]; const?: unknown; type?: string; items?: Schema };

const python = (args: string[], input?: string) => {
  const r = spawnSync(PYTHON, args, { cwd: ROOT, encoding: "utf8", timeout: 120_000, ...(input ? { input } : {}) });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

function objectOf(s: Schema): Schema {
  if (s.properties) return s;
  return [...(s.anyOf ?? []), ...(s.oneOf ?? [])].map(objectOf).find((x) => x.properties) ?? {};
}
function enumsOf(s: Schema | undefined): string[] {
  const out = new Set<string>();
  const walk = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === "object") {
      const o = x as Schema;
      if (o.enum) for (const e of o.enum) out.add(String(e));
      if (o.const !== undefined) out.add(String(o.const));
      for (const v of Object.values(o)) walk(v);
    }
  };
  walk(s);
  return [...out].sort();
}

describe.skipIf(!hasVenv)("workload.sae mirrors kiln_sae.config", () => {
  const tsSae = (() => {
    const w = (jobSpecJsonSchema() as Schema).properties!["workload"]!;
    const sae = [...(w.oneOf ?? []), ...(w.anyOf ?? [])].find((o) => o.properties?.["sae"])!.properties!["sae"]!;
    return objectOf(sae);
  })();

  it("has the same keys and enum values (model_shape is Kiln's own)", () => {
    const r = python(["-m", "kiln_sae", "train", "--print-schema"]);
    expect(r.code).toBe(0);
    const py = JSON.parse(r.out) as Schema;
    const tsKeys = Object.keys(tsSae.properties!).filter((k) => k !== "model_shape").sort();
    expect(tsKeys).toEqual(Object.keys(py.properties!).sort());
    for (const k of tsKeys) expect([k, enumsOf(tsSae.properties![k])]).toEqual([k, enumsOf(py.properties![k])]);
    const pyDataset = objectOf(py.properties!["dataset"]!);
    expect(Object.keys(tsSae.properties!["dataset"]!.properties!).sort()).toEqual(Object.keys(pyDataset.properties!).sort());
  });

  it("hands Python configs it accepts, for every example", async () => {
    for (const f of ["sae-pii-local.yaml", "llama-8b-sae-pii.yaml"]) {
      const spec = await loadJobSpec(join(ROOT, "examples", f));
      if (spec.workload.type !== "sae-pii") throw new Error(`${f} is not sae-pii`);
      const config = engineConfig({ ...spec.workload.sae, model_shape: { d_model: 8, n_layers: 2, params: 100 } }, spec.name);
      const r = python(["-c", "import json,sys; from kiln_sae.config import load_config; load_config(json.load(sys.stdin)); print('ok')"], JSON.stringify(config));
      expect([f, r.out.trim(), r.err.trim().split("\n").pop()]).toEqual([f, "ok", ""]);
    }
  });
});

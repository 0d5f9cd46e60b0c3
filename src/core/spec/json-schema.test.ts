import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { jobSpecJsonSchema } from "./json-schema.js";

const FILE = join(import.meta.dirname, "..", "..", "..", "docs", "job-spec.schema.json");
const render = () => `${JSON.stringify(jobSpecJsonSchema(), null, 2)}\n`;

describe("docs/job-spec.schema.json", () => {
  it("equals the schema generated from zod (regenerate: KILN_UPDATE_SCHEMA=1 npx vitest run src/core/spec)", () => {
    if (process.env["KILN_UPDATE_SCHEMA"] === "1") writeFileSync(FILE, render());
    expect(readFileSync(FILE, "utf8")).toBe(render());
  });

  it("is a schema editors can use: accepts a valid spec and rejects an unknown key", () => {
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(jobSpecJsonSchema());
    const spec = {
      name: "demo",
      budget: { max_usd: 5 },
      workload: { type: "sae-pii", sae: { base_model: "minilm", layer: 3, dataset: { path: "d.jsonl" }, tokens: 1000 } },
    };
    expect(validate(spec)).toBe(true);
    expect(validate({ ...spec, budgett: {} })).toBe(false);
  });
});

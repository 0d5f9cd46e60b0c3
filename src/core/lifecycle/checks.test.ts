// The checks before the meter starts, without a cloud: what a dataset may be (a file, a folder, JSONL,
// LMSYS, text, Parquet; a Hugging Face name is not checked here), a command job's working directory, and
// the list `kiln plan` prints. The end-to-end refusals (nothing launched) are in test/e2e/prelaunch-checks.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { nullLogger } from "../../base/logger.js";
import { kilnPaths } from "../home.js";
import { type JobSpec, parseJobSpec } from "../spec/index.js";
import { preLaunchChecks, renderChecks, requireChecksPassed } from "./checks.js";
import { checkLocalInputs } from "./inputs.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-checks-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sae = (dataset: string, extra = ""): JobSpec =>
  parseJobSpec(`name: t\nbudget: { max_usd: 5 }\nworkload:\n  type: sae-pii\n  sae: { base_model: minilm, layer: 3, dataset: ${dataset}, tokens: 40960${extra} }\n`, "t.yaml");
const inputs = (spec: JobSpec, o: { remote?: boolean; mayBeOnHost?: boolean } = {}) => checkLocalInputs(spec, dir, { remote: o.remote ?? true, mayBeOnHost: o.mayBeOnHost ?? false });
const failure = (f: () => unknown): UserError => {
  try {
    f();
  } catch (e) {
    if (e instanceof UserError) return e;
    throw e;
  }
  throw new Error("expected a UserError");
};

describe("local inputs", () => {
  it("accepts JSONL with the named text field, LMSYS conversations, UTF-8 text and a folder of them", () => {
    writeFileSync(join(dir, "a.jsonl"), '{"body": "one"}\n\n{"body": "two"}\n');
    expect(inputs(sae("{ path: a.jsonl, text_field: body }"))).toMatch(/a\.jsonl: 1 file, first 2 records parse .*text field "body"/);
    writeFileSync(join(dir, "chat.jsonl"), '{"conversation": [{"role": "user", "content": "hi"}]}\n');
    expect(inputs(sae("{ path: chat.jsonl, format: lmsys }"))).toMatch(/first 1 record parse/);
    mkdirSync(join(dir, "corpus"));
    writeFileSync(join(dir, "corpus", "b.txt"), "café\nthé\n");
    writeFileSync(join(dir, "corpus", "notes.bin"), "ignored: not a data file kiln_sae reads");
    expect(inputs(sae("{ path: corpus }"))).toMatch(/corpus: 1 file, first 2 records parse/);
  });

  it("leaves a Hugging Face dataset to the machine, and a path on the user's own host to the host", () => {
    expect(inputs(sae("{ name: lmsys/lmsys-chat-1m }"))).toEqual({ skipped: expect.stringMatching(/Hugging Face dataset, fetched on the machine/) });
    expect(inputs(sae("{ path: /data/on-the-host.jsonl }"), { mayBeOnHost: true })).toEqual({ skipped: expect.stringMatching(/must exist on your host/) });
  });

  it("names the field, the file and line, and the fix", () => {
    expect(failure(() => inputs(sae("{ path: nope.jsonl }"))).message).toMatch(/^workload\.sae\.dataset\.path: .*nope\.jsonl does not exist$/);
    writeFileSync(join(dir, "arr.jsonl"), '["not", "an", "object"]\n');
    expect(failure(() => inputs(sae("{ path: arr.jsonl }"))).message).toMatch(/arr\.jsonl:1 is a JSON array, not an object$/);
    writeFileSync(join(dir, "empty.jsonl"), "\n\n");
    expect(failure(() => inputs(sae("{ path: empty.jsonl }"))).message).toMatch(/empty\.jsonl has no records$/);
    writeFileSync(join(dir, "fake.parquet"), "not parquet at all");
    expect(failure(() => inputs(sae("{ path: fake.parquet }"))).message).toMatch(/fake\.parquet is not a Parquet file/);
    mkdirSync(join(dir, "nothing"));
    expect(failure(() => inputs(sae("{ path: nothing }"))).message).toMatch(/nothing is a directory with no .*files$/);
    const e = failure(() => inputs(sae("{ path: a.jsonl }")));
    expect(e.message).toMatch(/^workload\.sae\.dataset\.text_field: .*a\.jsonl:1 has no string field "text" \(fields: body\)$/);
    expect(e.hint).toBe("set dataset.text_field to the field that holds the text (one of: body)");
    expect(e.exitCode).toBe(2);
  });

  it("a command job shipped to a machine must work inside the spec's folder; a local one may not", () => {
    const cmd = parseJobSpec("name: c\nbudget: { max_usd: 1, max_hours: 1 }\nworkload:\n  type: command\n  workdir: ..\n  run: [\"true\"]\n", "c.yaml");
    expect(failure(() => inputs(cmd)).message).toMatch(/^workload\.workdir: \.\. is outside the spec's folder/);
    expect(inputs(cmd, { remote: false })).toMatch(/^working directory /);
  });
});

describe("preLaunchChecks (as kiln plan runs them)", () => {
  it("lists every check, runs all of them, and throws the first failure with the others noted", async () => {
    const paths = kilnPaths({ KILN_HOME: join(dir, "home") });
    const spec = sae("{ path: missing.jsonl }");
    const r = await preLaunchChecks({ spec, specPath: join(dir, "t.yaml"), providers: ["local"], paths, env: {}, logger: nullLogger, budget: { refusal: "the cheapest fitting offer is estimated at $9.00, over budget.max_usd $5.00" } });
    expect(r.checks.map((c) => [c.name, c.status])).toEqual([
      ["spec", "ok"],
      ["inputs", "failed"],
      ["bundle", "skipped"],
      ["credentials", "skipped"],
      ["budget", "failed"],
    ]);
    expect(renderChecks(r)).toMatch(/^ {2}FAIL inputs {6}workload\.sae\.dataset\.path: .*missing\.jsonl does not exist\n {19}→ fix the path/m);
    expect(() => requireChecksPassed(r)).toThrow(/does not exist\n\(also: budget: the cheapest fitting offer/);
  });
});

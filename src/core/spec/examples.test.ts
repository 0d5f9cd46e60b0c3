import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadJobSpec } from "./load.js";

const EXAMPLES = join(import.meta.dirname, "..", "..", "..", "examples");

describe("examples/", () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));

  it("has the local demo and the reference job", () => {
    expect(files).toEqual(expect.arrayContaining(["sae-pii-local.yaml", "llama-8b-sae-pii.yaml"]));
  });

  it.each(files)("%s is a valid job spec", async (f) => {
    const spec = await loadJobSpec(join(EXAMPLES, f));
    expect(spec.name).toMatch(/^[a-z0-9-]+$/);
    expect(spec.budget.max_usd).toBeGreaterThan(0);
  });

  it("the demo's dataset is committed, LMSYS-shaped and regenerable byte for byte", () => {
    const lines = readFileSync(join(EXAMPLES, "data", "chat-sample.jsonl"), "utf8").trim().split("\n");
    expect(lines.length).toBe(300);
    const first = JSON.parse(lines[0]!) as { conversation: { role: string; content: string }[] };
    expect(first.conversation[0]).toMatchObject({ role: "user" });
    const venv = join(EXAMPLES, "..", ".venv", "bin", "python");
    const python = existsSync(venv) ? venv : "python3";
    const r = spawnSync(python, [join(EXAMPLES, "data", "make_sample.py"), "--check"], { encoding: "utf8", timeout: 60_000 });
    expect(r.stdout.trim()).toBe("up to date");
    expect(r.status).toBe(0);
  });
});

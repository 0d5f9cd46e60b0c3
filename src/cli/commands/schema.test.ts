import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo } from "../io.js";
import { main } from "../main.js";

describe("kiln schema", () => {
  it("prints the committed JSON Schema", async () => {
    const io = captureIo();
    const code = await main(["schema"], io, { env: { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-schema-")) } });
    expect(code).toBe(0);
    expect(io.stdout).toBe(readFileSync(join(import.meta.dirname, "..", "..", "..", "docs", "job-spec.schema.json"), "utf8"));
    expect(JSON.parse(io.stdout)).toMatchObject({ title: "Kiln job spec", required: ["name", "budget", "workload"] });
  });
});

describe("--help stays fast", () => {
  // `kiln --help` imports every command module; these four load zod, yaml and the planner only inside
  // their handlers (`await import(...)`), so listing them costs nothing (bench/cli_speed.ts measures it).
  it.each(["offers", "plan", "preflight", "schema"])("%s.ts has no static import of core modules or packages", (name) => {
    const text = readFileSync(join(import.meta.dirname, `${name}.ts`), "utf8");
    const statics = [...text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]);
    expect(statics.filter((s) => !["../command.js", "../../base/errors.js", "./offers.js"].includes(s!))).toEqual([]);
  });
});

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

// That command modules stay cheap to import (`kiln --help` imports them all) is checked for every
// command, through its whole static import graph, in startup.test.ts.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writeFileAtomic } from "./atomic-file.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-atomic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writeFileAtomic", () => {
  it("replaces the file whole and leaves no temporary file behind", () => {
    const p = join(dir, "report.md");
    writeFileSync(p, "old\n");
    writeFileAtomic(p, "new\n");
    expect(readFileSync(p, "utf8")).toBe("new\n");
    expect(readdirSync(dir)).toEqual(["report.md"]);
  });

  it("a write that fails leaves the old file as it was and no temporary file", () => {
    const p = join(dir, "missing-dir", "report.md");
    expect(() => writeFileAtomic(p, "x")).toThrow(/ENOENT/);
    expect(existsSync(join(dir, "missing-dir"))).toBe(false);
    expect(readdirSync(dir)).toEqual(["report.md"]);
  });
});

// The layering rule, checked mechanically: cli → core → providers/remote/store. A lower layer never
// imports a higher one, and nothing outside src/cli prints through console or process.stdout.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..", "src");
// The dashboard is a library the CLI serves and that uses the core: between them.
const RANK: Record<string, number> = { cli: 3, dashboard: 2.5, core: 2, providers: 1, remote: 1, store: 1, base: 0 };

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}
const layerOf = (file: string) => relative(SRC, file).split("/")[0] ?? "";

describe("layering", () => {
  const all = files(SRC);
  it("finds the source files", () => {
    expect(all.length).toBeGreaterThan(5);
  });
  it("lower layers never import higher ones", () => {
    const bad: string[] = [];
    for (const f of all) {
      const from = layerOf(f);
      const text = readFileSync(f, "utf8");
      for (const m of text.matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g)) {
        const target = layerOf(join(f, "..", m[1]!));
        if ((RANK[target] ?? 0) > (RANK[from] ?? 0)) bad.push(`${relative(SRC, f)} imports ${m[1]}`);
      }
    }
    expect(bad).toEqual([]);
  });
  it("library code does not write to the terminal or exit", () => {
    const bad = all
      // testing/ folders hold test helpers (child-process scripts for kill loops), never shipped in dist.
      .filter((f) => layerOf(f) !== "cli" && !f.includes("/testing/"))
      .filter((f) => /process\.(stdout|stderr)\.write\(|process\.exit\(|console\.[a-z]+\(/.test(readFileSync(f, "utf8")))
      .map((f) => relative(SRC, f));
    expect(bad).toEqual([]);
  });
});

/**
 * Start-up guard: every `kiln` invocation imports the whole command table, so a command module may
 * only load heavy packages inside its handler (`await import(…)`). This walks the static (non-type)
 * imports of each command module through src/ and fails with the chain that reaches one.
 */
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "..", "..");
// Each costs 50-300 ms of start-up on our 2-core machine (zod ≈ 110 ms CPU, yaml ≈ 65 ms, ssh2 more).
const HEAVY = ["zod", "yaml", "ssh2", "better-sqlite3", "tar", "ajv", "ajv-formats", "ignore", "playwright-core", "esbuild"];

/** Specifiers a file imports at load time: `import x from`, `import "x"`, `export … from`, not `import type`. */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gms)) {
    if (m[5] !== undefined) out.push(m[5]);
    else if (m[2] === undefined && !/^\{\s*(type\s+[^,}]+,?\s*)+\}$/.test(m[3] ?? "")) out.push(m[4]!);
  }
  return out;
}

/** The heavy package a module reaches at load time, with the chain of files; undefined when none. */
function heavyChain(entry: string): string[] | undefined {
  const parent = new Map<string, string | undefined>([[entry, undefined]]);
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const spec of staticImports(file)) {
      if (spec.startsWith(".")) {
        const next = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
        if (parent.has(next)) continue;
        parent.set(next, file);
        queue.push(next);
      } else if (HEAVY.includes(spec.split("/")[0]!)) {
        const chain = [spec];
        for (let f: string | undefined = file; f !== undefined; f = parent.get(f)) chain.unshift(relative(SRC, f));
        return chain;
      }
    }
  }
  return undefined;
}

describe("command modules load nothing heavy", () => {
  const dir = join(SRC, "cli", "commands");
  const modules = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));

  it("finds the command modules", () => {
    expect(modules).toContain("plan.ts");
    expect(modules.length).toBeGreaterThan(10);
  });

  it.each(modules)("%s", (file) => {
    expect(heavyChain(join(dir, file))).toBeUndefined();
  });

  it("catches a heavy import through a chain (the guard itself works)", () => {
    expect(heavyChain(join(SRC, "remote", "ssh", "keys.ts"))?.at(-1)).toBe("ssh2");
    expect(heavyChain(join(SRC, "core", "spec", "load.ts"))).toEqual(expect.arrayContaining(["yaml"]));
  });
});

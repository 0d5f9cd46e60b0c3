/**
 * Test helper: bundle a TypeScript entry into one ESM file that plain `node` can run as a child
 * process (Node 20 cannot run .ts). The bundle lives under node_modules/.cache so that its bare imports
 * (better-sqlite3, zod, …) resolve to the repository's node_modules.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..", "..");

/** Bundle `entry` (a path relative to the repo root) and return the absolute path of the .mjs. */
export async function bundleForNode(entry: string): Promise<string> {
  const dir = join(REPO_ROOT, "node_modules", ".cache", "kiln-test");
  mkdirSync(dir, { recursive: true });
  const base = entry.replace(/[^A-Za-z0-9]+/g, "_");
  const outfile = join(dir, `${base}-${process.pid}.mjs`);
  await build({
    entryPoints: [join(REPO_ROOT, entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    packages: "external",
    logLevel: "silent",
  });
  return outfile;
}

/**
 * The cloud driver as one ESM file for plain `node` (tests start it as a real detached process).
 * Unlike store/testing/bundle.ts this inlines ssh2: Node's ESM loader cannot see ssh2's `utils` as a
 * named export of the CommonJS package, which src/remote/ssh/keys.ts imports.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build } from "esbuild";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..", "..", "..");

export async function bundleDriver(entry = "src/core/lifecycle/driver-main.ts"): Promise<string> {
  const dir = join(REPO_ROOT, "node_modules", ".cache", "kiln-test");
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, `${entry.replace(/[^A-Za-z0-9]+/g, "_")}-inline-${process.pid}.mjs`);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies?: Record<string, string> };
  const external = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies ?? {})].filter((d) => d !== "ssh2");
  await build({
    entryPoints: [join(REPO_ROOT, entry)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    external: [...external, "cpu-features", "*.node"],
    // ssh2 is CommonJS and calls require(); give the ESM bundle a require that works.
    banner: {
      js: "import { createRequire as __kilnCreateRequire } from 'node:module'; import { dirname as __kilnDirname } from 'node:path'; import { fileURLToPath as __kilnToPath } from 'node:url'; const require = __kilnCreateRequire(import.meta.url); const __filename = __kilnToPath(import.meta.url); const __dirname = __kilnDirname(__filename);",
    },
    logLevel: "silent",
  });
  return outfile;
}

#!/usr/bin/env node
/**
 * Bundles the CLI (src/cli/main.ts) into dist/bundle/ with esbuild, after `tsc -p tsconfig.build.json`, and
 * points dist/cli/main.js at it. Why: every `kiln` start loads the command table; as ~90 tsc files that is
 * ~30 ms more than as one bundle (bench/cli_speed.ts, `--help`). What stays the same:
 * - Handlers' `await import(…)`s become chunks (code splitting), so start-up still loads nothing heavy; npm
 *   packages stay external and load from node_modules, as before.
 * - The rest of tsc's dist/ stays: the supervisor and the cloud driver run from it as their own processes.
 * - `import.meta.dirname` in a bundled module would name dist/bundle/, not the module's own dist/ folder
 *   (launch.ts and submit.ts find their sibling entry points with it, python.ts the repository), so it is
 *   rewritten to that folder, relative to the bundle: the output can move, as a package install moves it.
 * - A later plain `tsc` build overwrites dist/cli/main.js with the unbundled CLI: slower, never stale.
 *
 *   node scripts/bundle-cli.mjs        # part of `npm run build`
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");
const SRC = join(ROOT, "src");
const OUT = join(ROOT, "dist", "bundle");

/** `import.meta.dirname` → the module's tsc output folder, reached from the bundle's own folder. */
const ownDirname = {
  name: "kiln-own-dirname",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      if (!text.includes("import.meta.dirname")) return undefined;
      const rel = relative(OUT, join(ROOT, "dist", relative(SRC, dirname(args.path))));
      // Every use joins or resolves onto it, which normalises the "..".
      return { contents: text.replaceAll("import.meta.dirname", `(import.meta.dirname + ${JSON.stringify(`/${rel}`)})`), loader: "ts" };
    });
  },
};

await rm(OUT, { recursive: true, force: true });
await build({
  entryPoints: [join(SRC, "cli", "main.ts")],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  logLevel: "warning",
  plugins: [ownDirname],
});
await writeFile(
  join(ROOT, "dist", "cli", "main.js"),
  `// Written by scripts/bundle-cli.mjs: the CLI runs from its esbuild bundle (faster start-up). A plain tsc build
// replaces this file with the unbundled entry.
import { run } from "../bundle/main.js";

export * from "../bundle/main.js";
if (import.meta.url === \`file://\${process.argv[1]}\`) run();
`,
);

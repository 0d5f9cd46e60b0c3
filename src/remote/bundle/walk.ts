/**
 * Which files of a directory go into a bundle: everything except what `.gitignore`/`.kilnignore` (at
 * any depth, gitignore semantics via the `ignore` package) exclude, the usual heavy or private
 * directories, and symlinks that leave the tree. Order is byte-wise by path, so two walks of the same
 * tree list the same files in the same order.
 */
import { lstat, readdir, readFile, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import ignore, { type Ignore } from "ignore";

/** Never shipped, whatever the ignore files say: environments, VCS state and caches. */
export const ALWAYS_SKIPPED = new Set([
  "node_modules",
  ".venv",
  "venv",
  ".git",
  ".hg",
  ".svn",
  "__pycache__",
  ".mypy_cache",
  ".pytest_cache",
  ".ruff_cache",
  ".DS_Store",
]);

export interface WalkedFile {
  /** Path relative to the walked root, with `/` separators. */
  rel: string;
  /** Absolute path to read (for an in-tree symlink: its target). */
  abs: string;
  size: number;
  /** Normalised to 0o755 (any execute bit) or 0o644, so the bundle doesn't depend on the umask. */
  mode: number;
}

export interface SkippedPath {
  rel: string;
  reason: string;
}

export interface WalkResult {
  files: WalkedFile[];
  skipped: SkippedPath[];
}

interface Matcher {
  base: string;
  ig: Ignore;
}

const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

async function matcherFor(dirAbs: string, dirRel: string, ignoreFiles: readonly string[]): Promise<Matcher | undefined> {
  const ig = ignore();
  let found = false;
  for (const name of ignoreFiles) {
    try {
      ig.add(await readFile(join(dirAbs, name), "utf8"));
      found = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  return found ? { base: dirRel, ig } : undefined;
}

function ignored(matchers: readonly Matcher[], rel: string, isDir: boolean): boolean {
  return matchers.some(({ base, ig }) => {
    const local = base === "" ? rel : rel.slice(base.length + 1);
    return ig.ignores(isDir ? `${local}/` : local);
  });
}

const isInside = (root: string, p: string) => p === root || p.startsWith(root + sep);

/**
 * Walk `root` and return the files to bundle, plus what was left out on purpose and why. `exclude`: absolute
 * directories never entered (Kiln's own home when it lies inside a project: its jobs, bundles and keys).
 */
export async function walkTree(root: string, ignoreFiles: readonly string[], exclude: readonly string[] = []): Promise<WalkResult> {
  const realRoot = await realpath(root);
  const excluded = new Set<string>();
  for (const e of exclude) excluded.add(await realpath(e).catch(() => e));
  const files: WalkedFile[] = [];
  const skipped: SkippedPath[] = [];

  const visit = async (dirAbs: string, dirRel: string, matchers: readonly Matcher[]): Promise<void> => {
    const own = await matcherFor(dirAbs, dirRel, ignoreFiles);
    const active = own ? [...matchers, own] : matchers;
    const names = (await readdir(dirAbs)).sort(byBytes);
    for (const name of names) {
      const abs = join(dirAbs, name);
      const rel = dirRel === "" ? name : `${dirRel}/${name}`;
      if (ALWAYS_SKIPPED.has(name)) continue;
      const info = await lstat(abs);
      if (info.isSymbolicLink()) {
        // Follow a link only when its target stays in the tree, and never into a directory (loops).
        let target: string;
        try {
          target = await realpath(abs);
        } catch {
          skipped.push({ rel, reason: "broken symlink" });
          continue;
        }
        if (!isInside(realRoot, target)) {
          skipped.push({ rel, reason: "symlink points outside the tree" });
          continue;
        }
        const t = await stat(target);
        if (!t.isFile()) {
          skipped.push({ rel, reason: "symlink to a directory" });
          continue;
        }
        if (ignored(active, rel, false)) continue;
        files.push({ rel, abs: target, size: t.size, mode: t.mode & 0o111 ? 0o755 : 0o644 });
        continue;
      }
      if (info.isDirectory()) {
        if (ignored(active, rel, true)) continue;
        if (excluded.has(abs)) {
          skipped.push({ rel, reason: "Kiln's own directory" });
          continue;
        }
        await visit(abs, rel, active);
      } else if (info.isFile()) {
        if (ignored(active, rel, false)) continue;
        files.push({ rel, abs, size: info.size, mode: info.mode & 0o111 ? 0o755 : 0o644 });
      } else {
        skipped.push({ rel, reason: "not a regular file" });
      }
    }
  };

  await visit(realRoot, "", []);
  return { files, skipped };
}

/**
 * An artifact manifest: `{path, size, sha256}` for every file under a directory, computed on the
 * machine in one pass over Exec (find + wc + sha256sum, NUL-separated so any file name survives) or
 * locally. It is what "the artifacts are safe" means: teardown waits until the local copy matches it.
 *
 * Paths are relative, POSIX, and may not escape the directory (no absolute paths, no `..`): a machine
 * must not be able to make Kiln write outside the job's folder.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join, relative, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { KilnError } from "../../base/errors.js";
import type { Exec } from "../exec.js";

const safeRelPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && p.split("/").every((seg) => seg !== "" && seg !== "." && seg !== ".."), "must be a relative path inside the directory");

export const ManifestEntrySchema = z.strictObject({
  path: safeRelPath,
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;
export const ManifestSchema = z.array(ManifestEntrySchema);
export type Manifest = ManifestEntry[];

/** Partial transfers, temp files and Kiln's own bookkeeping (`.kiln-*`) are not artifacts. */
export const isInFlight = (name: string): boolean => name.endsWith(".kiln-part") || name.endsWith(".tmp") || name.startsWith(".kiln-");

const MANIFEST_SCRIPT = [
  'cd "$1" || exit 3',
  "find . -type f ! -name '*.kiln-part' ! -name '*.tmp' ! -name '.kiln-*' -print0 |",
  ` xargs -0 -r sh -c 'for f; do s=$(wc -c < "$f") || exit 1; h=$(sha256sum < "$f") || exit 1; printf "%s\\t%s\\t%s\\0" $s "\${h%% *}" "\${f#./}"; done' sh`,
].join("\n");

const byPath = (a: ManifestEntry, b: ManifestEntry) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

export function parseManifestOutput(stdout: string, where: string): Manifest {
  const entries: unknown[] = [];
  for (const rec of stdout.split("\0")) {
    if (rec === "") continue;
    const t1 = rec.indexOf("\t");
    const t2 = rec.indexOf("\t", t1 + 1);
    if (t1 < 0 || t2 < 0) throw new KilnError("remote-output-unparsable", `unexpected manifest record from ${where}: ${JSON.stringify(rec.slice(0, 200))}`);
    entries.push({ size: Number(rec.slice(0, t1).trim()), sha256: rec.slice(t1 + 1, t2), path: rec.slice(t2 + 1) });
  }
  const parsed = ManifestSchema.safeParse(entries);
  if (!parsed.success) throw new KilnError("remote-output-unparsable", `the artifact manifest from ${where} is invalid: ${parsed.error.message}`);
  return parsed.data.sort(byPath);
}

/** The manifest of `dir` on the machine. Throws `artifacts-missing` when the directory does not exist. */
export async function remoteManifest(exec: Exec, dir: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Manifest> {
  const r = await exec.run(["sh", "-c", MANIFEST_SCRIPT, "sh", dir], { timeoutMs: opts.timeoutMs ?? 600_000, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (r.code === 3) throw new KilnError("artifacts-missing", `the artifact directory ${dir} does not exist on ${exec.where}`, { details: { dir } });
  if (r.code !== 0) throw new KilnError("remote-command-failed", `computing the artifact manifest of ${dir} on ${exec.where} failed (exit ${r.code}): ${r.stderr.slice(-1000)}`, { details: { dir, exitCode: r.code, stderrTail: r.stderr.slice(-2000) } });
  return parseManifestOutput(r.stdout, exec.where);
}

export async function sha256Local(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), h);
  return h.digest("hex");
}

/** The manifest of a local directory (same rules as the remote one). */
export async function localManifest(dir: string): Promise<Manifest> {
  const out: Manifest = [];
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile() && !isInFlight(ent.name)) {
        out.push({ path: relative(dir, p).split(sep).join("/"), size: (await stat(p)).size, sha256: await sha256Local(p) });
      }
    }
  };
  await walk(dir);
  return out.sort(byPath);
}

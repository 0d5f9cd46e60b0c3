/**
 * Pulling a job's artifacts: compute the machine's manifest, download only new or changed files
 * (resumable, each verified against its manifest sha256, atomic), and remember what was verified in
 * `<localDir>/.kiln-pull-state.json` so a periodic pull does not re-hash gigabytes of checkpoints that
 * have not changed (same size and mtime as when they were verified).
 */
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { z } from "zod";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { MachineAccess } from "../access.js";
import { type Manifest, ManifestEntrySchema, remoteManifest, sha256Local } from "./manifest.js";

export const PULL_STATE = ".kiln-pull-state.json";

const PullState = z.object({
  v: z.literal(1),
  files: z.array(ManifestEntrySchema.extend({ mtimeMs: z.number() })),
});
type PullState = z.infer<typeof PullState>;

export interface PullOptions {
  /** Use this manifest instead of computing one (e.g. the one the workload's `artifact` lines named). */
  manifest?: Manifest;
  signal?: AbortSignal;
  logger?: Logger;
  onFile?: (path: string, bytes: number) => void;
}

export interface PullResult {
  manifest: Manifest;
  pulled: string[];
  skipped: string[];
  bytes: number;
}

async function readState(localDir: string): Promise<PullState> {
  try {
    const parsed = PullState.safeParse(JSON.parse(await readFile(join(localDir, PULL_STATE), "utf8")));
    // A damaged state file only costs a re-hash; never trust it partially.
    return parsed.success ? parsed.data : { v: 1, files: [] };
  } catch {
    return { v: 1, files: [] };
  }
}

async function writeState(localDir: string, state: PullState): Promise<void> {
  const p = join(localDir, PULL_STATE);
  await writeFile(`${p}.tmp`, `${JSON.stringify(state)}\n`);
  await rename(`${p}.tmp`, p);
}

async function localMatches(path: string, entry: Manifest[number], known: PullState["files"][number] | undefined): Promise<number | undefined> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    return undefined;
  }
  if (st.size !== entry.size) return undefined;
  if (known && known.sha256 === entry.sha256 && known.size === st.size && known.mtimeMs === st.mtimeMs) return st.mtimeMs;
  return (await sha256Local(path)) === entry.sha256 ? st.mtimeMs : undefined;
}

/** Make `localDir` hold every file of the machine's `remoteDir`, verified. */
export async function pullArtifacts(conn: MachineAccess, remoteDir: string, localDir: string, opts: PullOptions = {}): Promise<PullResult> {
  const logger = opts.logger ?? nullLogger;
  const manifest = opts.manifest ?? (await remoteManifest(conn, remoteDir, opts.signal ? { signal: opts.signal } : {}));
  await mkdir(localDir, { recursive: true });
  const state = await readState(localDir);
  const known = new Map(state.files.map((f) => [f.path, f]));
  const result: PullResult = { manifest, pulled: [], skipped: [], bytes: 0 };
  const next: PullState = { v: 1, files: [] };
  try {
    for (const entry of manifest) {
      const local = join(localDir, ...entry.path.split("/"));
      let mtimeMs = await localMatches(local, entry, known.get(entry.path));
      if (mtimeMs !== undefined) {
        result.skipped.push(entry.path);
      } else {
        const r = await conn.download(posix.join(remoteDir, entry.path), local, {
          expected: { size: entry.size, sha256: entry.sha256 },
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        mtimeMs = (await stat(local)).mtimeMs;
        result.pulled.push(entry.path);
        result.bytes += r.bytes;
        opts.onFile?.(entry.path, r.bytes);
        logger.debug(`pulled ${entry.path}`, { bytes: r.bytes, resumedFrom: r.resumedFrom });
      }
      next.files.push({ ...entry, mtimeMs });
    }
  } finally {
    // Keep what was verified so far even when a later file fails: the next pull resumes from there.
    for (const f of state.files) if (!next.files.some((n) => n.path === f.path)) next.files.push(f);
    await writeState(localDir, next);
  }
  return result;
}

/**
 * Pack a job for a remote machine: the job's workdir under `job/`, extra directories (the repo's
 * `workload/`) under their own names, and `kiln-manifest.json` first. Every file is scanned for secrets
 * before a single byte is written; a finding refuses the bundle with a {@link SecretsFoundError}.
 *
 * @example
 *   const b = await createBundle({ workdir: "examples/demo", extraDirs: [repoWorkload], outDir: jobDir });
 *   logger.info(`bundle ${b.sha256.slice(0, 12)} ${b.bytes} bytes, ${b.manifest.files.length} files`);
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import ignore from "ignore";
import { UserError } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import { formatFinding, type SecretFinding, SecretsFoundError, scanFile, type Unscanned } from "../secrets/index.js";
import { type BundleManifest, MANIFEST_NAME, type ManifestEntry, serializeManifest } from "./manifest.js";
import { END_OF_ARCHIVE, fileHeader, padding } from "./tarball.js";
import { type SkippedPath, type WalkedFile, walkTree } from "./walk.js";

export interface BundleOptions {
  /** The job's working directory; packed under `job/`. */
  workdir: string;
  /** More directories to pack, each under its base name or `as` (e.g. the repo's `workload/`). */
  extraDirs?: ReadonlyArray<string | { dir: string; as: string }>;
  /** Ignore files honoured at every depth (gitignore syntax). */
  ignoreFiles?: readonly string[];
  /** gitignore-style patterns, relative to the workdir (or `workload/...`), whose files may hold secrets. */
  allowSecretsIn?: readonly string[];
  /** Directory for `bundle-<sha12>.tar.gz` (default: `$TMPDIR/kiln-bundles`; keep it out of the workdir). */
  outDir?: string;
  /** Absolute directories never packed, whatever the ignore files say (Kiln's home inside a project). */
  exclude?: readonly string[];
  /** Refuse bundles bigger than this before compression (default 512 MiB): a data set shipped by mistake. */
  maxBytes?: number;
  logger?: Logger;
}

export interface Bundle {
  path: string;
  sha256: string;
  /** Compressed size on disk. */
  bytes: number;
  manifest: BundleManifest;
  /** Symlinks and special files left out, with the reason. */
  skipped: SkippedPath[];
  /** Findings in allow-listed paths: let through, but worth a log line. */
  allowed: SecretFinding[];
}

export const DEFAULT_IGNORE_FILES = [".gitignore", ".kilnignore"] as const;
const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

interface Planned extends WalkedFile {
  path: string;
  sha256: string;
}

const sha256Of = (buf: Uint8Array) => createHash("sha256").update(buf).digest("hex");

export async function createBundle(opts: BundleOptions): Promise<Bundle> {
  const logger = opts.logger ?? nullLogger;
  const ignoreFiles = opts.ignoreFiles ?? DEFAULT_IGNORE_FILES;
  const roots: Array<{ dir: string; as: string }> = [
    { dir: resolve(opts.workdir), as: "job" },
    ...(opts.extraDirs ?? []).map((d) => (typeof d === "string" ? { dir: resolve(d), as: basename(resolve(d)) } : { dir: resolve(d.dir), as: d.as })),
  ];
  const names = roots.map((r) => r.as);
  if (new Set(names).size !== names.length) throw new UserError(`bundle roots must have distinct names, got ${names.join(", ")}`);

  const allow = ignore().add([...(opts.allowSecretsIn ?? [])]);
  const planned: Planned[] = [];
  const skipped: SkippedPath[] = [];
  const findings: SecretFinding[] = [];
  const allowed: SecretFinding[] = [];
  const unscanned: Unscanned[] = [];
  for (const root of roots) {
    const walked = await walkTree(root.dir, ignoreFiles, opts.exclude);
    skipped.push(...walked.skipped.map((s) => ({ ...s, rel: `${root.as}/${s.rel}` })));
    for (const f of walked.files) {
      const buf = await readFile(f.abs);
      const shown = root.as === "job" ? f.rel : `${root.as}/${f.rel}`;
      // Binary content, UTF-16, base64, notebooks and archive members too; findings name the member.
      const { findings: found, unscanned: partly } = scanFile(shown, buf);
      if (found.length > 0) (allow.ignores(shown) ? allowed : findings).push(...found);
      unscanned.push(...partly);
      planned.push({ ...f, size: buf.length, path: `${root.as}/${f.rel}`, sha256: sha256Of(buf) });
    }
  }
  if (findings.length > 0) throw new SecretsFoundError(findings);
  for (const a of allowed) logger.warn(`allow-listed possible secret shipped: ${formatFinding(a)}`);
  // A limit kept part of a file from being scanned (a huge binary, a deep or expanding archive): say so.
  for (const u of unscanned) logger.warn(`secret scan incomplete: ${u.file}: ${u.reason}`);
  for (const s of skipped) logger.debug(`bundle: skipped ${s.rel} (${s.reason})`);

  const totalBytes = planned.reduce((n, f) => n + f.size, 0);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (totalBytes > maxBytes) {
    const largest = [...planned].sort((a, b) => b.size - a.size).slice(0, 5);
    throw new UserError(
      `bundle would be ${mib(totalBytes)} (limit ${mib(maxBytes)}); largest files:\n${largest.map((f) => `  ${f.path}  ${mib(f.size)}`).join("\n")}`,
      { hint: "Add data, checkpoints and caches to .kilnignore; the machine downloads data sets itself." },
    );
  }

  const entries: ManifestEntry[] = planned.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, mode: f.mode }));
  const manifest: BundleManifest = { version: 1, roots: Object.fromEntries(roots.map((r) => [r.as, r.as])), files: entries, totalBytes };
  const outDir = resolve(opts.outDir ?? join(tmpdir(), "kiln-bundles"));
  await mkdir(outDir, { recursive: true });
  const tmp = join(outDir, `.bundle-${process.pid}-${Date.now()}.tar.gz.part`);
  const hash = createHash("sha256");
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(Readable.from(tarEntries(manifest, planned)), createGzip({ level: 6 }), tap, createWriteStream(tmp, { mode: 0o600 }));
    const sha256 = hash.digest("hex");
    const path = join(outDir, `bundle-${sha256.slice(0, 12)}.tar.gz`);
    await rename(tmp, path);
    logger.info(`bundle: ${manifest.files.length} files, ${mib(totalBytes)} → ${mib(bytes)} compressed (${sha256.slice(0, 12)})`);
    return { path, sha256, bytes, manifest, skipped, allowed };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function* tarEntries(manifest: BundleManifest, files: readonly Planned[]): AsyncGenerator<Buffer> {
  const m = Buffer.from(serializeManifest(manifest));
  yield fileHeader(MANIFEST_NAME, m.length, 0o644);
  yield m;
  yield padding(m.length);
  for (const f of files) {
    yield fileHeader(f.path, f.size, f.mode);
    // Stream the file again and check it is the one that was scanned: an edit mid-bundle would
    // otherwise ship unscanned bytes under a stale hash.
    const h = createHash("sha256");
    let n = 0;
    for await (const chunk of createReadStream(f.abs) as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > f.size) break;
      h.update(chunk);
      yield chunk;
    }
    if (n !== f.size || h.digest("hex") !== f.sha256 || (await stat(f.abs)).size !== f.size) {
      throw new UserError(`${f.path} changed while the bundle was being written`, { hint: "Run the command again once the file is no longer being edited." });
    }
    yield padding(f.size);
  }
  yield END_OF_ARCHIVE;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 2 : 0)} MiB`;

/**
 * The client's side of the durable store: check that a job's outputs are there and whole
 * ({@link verifyDurableCopy}), and bring them back when the machine is gone ({@link fetchFromStore}).
 * Both trust nothing they read: the manifest is parsed with the same schema as a machine's, and every
 * object is re-hashed (sha256) as it streams in. The store is read through an {@link ObjectReader}: S3's
 * (./s3-reader.ts, the AWS SDK) or Azure Blob's (./blob-reader.ts). Loaded on use.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { z } from "zod";
import { KilnError } from "../../base/errors.js";
import { type Manifest, ManifestSchema } from "../../remote/sync/manifest.js";
import type { StoreCredentials } from "./credentials.js";
import { walkArchive } from "./archive-reader.js";
import { ARCHIVE_NAME, type StoreLocation, archiveKey, manifestKey, outputKey } from "./location.js";

/** A manifest is ~100 bytes a file: 64 MiB is far beyond any job's outputs, and bounds what a hostile store can make us hold. */
const MAX_MANIFEST_BYTES = 64 * 2 ** 20;
const StoredManifest = z.union([
  z.strictObject({ version: z.literal(1), files: ManifestSchema }),
  // The archive layout (./location.ts): the files' entries as in version 1, and the archive's own.
  z.strictObject({ version: z.literal(2), archive: z.strictObject({ path: z.literal(ARCHIVE_NAME), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }), files: ManifestSchema }),
]);
type Stored = z.infer<typeof StoredManifest>;

export interface StoreAccess {
  location: StoreLocation;
  credentials: StoreCredentials;
  signal?: AbortSignal;
  /** Per request; the default is generous for multi-GB checkpoints. */
  requestTimeoutMs?: number;
  /** How to read a store this computer cannot reach itself: a provider volume, through a machine that mounts it (./volume-reader.ts). */
  reader?: ObjectReader;
}

export interface DurableCopyCheck {
  ok: boolean;
  /** The store's manifest, when it has one. */
  manifest: Manifest | undefined;
  verified: number;
  missing: string[];
  mismatched: { path: string; expectedSha256: string; gotSha256: string; expectedSize: number; gotSize: number }[];
  /** Entries of `expected` the store's manifest lacks or lists with another hash. */
  notInManifest: string[];
  /** Why it is not ok, in a sentence. */
  reason?: string;
}

/** One object at a time from the store: a stream of it, or undefined when it does not exist. */
export interface ObjectReader {
  open(key: string): Promise<Readable | undefined>;
  close(): void;
}

async function readerFor(a: StoreAccess): Promise<ObjectReader> {
  if (a.reader) return a.reader;
  if (a.location.kind === "lambda-fs") throw new KilnError("store-unreachable", `${a.location.url} is a Lambda file system: it can be read only from a Lambda machine in its region with it attached`);
  if (a.location.kind === "azure-blob") return (await import("./blob-reader.js")).blobReader(a);
  if (a.location.kind === "gcs") return (await import("./gcs-reader.js")).gcsReader(a);
  return (await import("./s3-reader.js")).s3Reader(a);
}

/** Stream an object through `sink` (or nowhere), hashing it; undefined when it does not exist. */
async function streamObject(r: ObjectReader, key: string, sink?: NodeJS.WritableStream, collect = false): Promise<{ size: number; sha256: string; body: Buffer } | undefined> {
  const body = await r.open(key);
  if (!body) return undefined;
  const h = createHash("sha256");
  let size = 0;
  const chunks: Buffer[] = [];
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      h.update(chunk);
      size += chunk.length;
      if (collect) {
        if (size > MAX_MANIFEST_BYTES) return done(new KilnError("store-manifest-too-large", `${key} is over ${MAX_MANIFEST_BYTES} bytes`));
        chunks.push(chunk);
      }
      done(null, sink ? chunk : undefined);
    },
  });
  if (sink) await pipeline(body, tap, sink);
  else await pipeline(body, tap, async (source: AsyncIterable<unknown>) => {
      for await (const _ of source) {
        // drained: the tap already hashed it
      }
    });
  return { size, sha256: h.digest("hex"), body: Buffer.concat(chunks) };
}

async function readManifest(r: ObjectReader, a: StoreAccess): Promise<Stored | undefined> {
  const got = await streamObject(r, manifestKey(a.location), undefined, true);
  if (!got) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(got.body.toString("utf8"));
  } catch (e) {
    throw new KilnError("store-manifest-unparsable", `the manifest in ${a.location.url} is not JSON`, { cause: e });
  }
  const m = StoredManifest.safeParse(json);
  if (!m.success) throw new KilnError("store-manifest-unparsable", `the manifest in ${a.location.url} is invalid: ${m.error.message}`);
  return m.data;
}

/** The archive layout's files, each hashed as the archive streams in (into `dirFor`'s `.kiln-part` files when fetching). */
async function readArchive(r: ObjectReader, a: StoreAccess, stored: Extract<Stored, { version: 2 }>, partFor?: (path: string) => string) {
  const body = await r.open(archiveKey(a.location));
  if (!body) return undefined;
  const walk = await walkArchive(body, stored.files, (path) => (partFor ? createWriteStream(partFor(path)) : undefined));
  return { walk, archiveOk: walk.size === stored.archive.size && walk.sha256 === stored.archive.sha256 };
}

/** The archive's entries by path; null when the archive is not there. A damaged or hostile tar counts as every file missing. */
async function archiveEntries(r: ObjectReader, a: StoreAccess, stored: Extract<Stored, { version: 2 }>): Promise<{ entries: Map<string, { size: number; sha256: string }>; archiveOk: boolean } | null> {
  try {
    const got = await readArchive(r, a, stored);
    if (!got) return null;
    return { entries: new Map(got.walk.entries.map((e) => [e.path, e])), archiveOk: got.archiveOk };
  } catch (e) {
    if (isBadArchive(e)) return { entries: new Map(), archiveOk: false };
    throw e;
  }
}

/** node-tar's parse errors carry TAR_* codes; ours, artifacts-unverified. */
const isBadArchive = (e: unknown): boolean =>
  (e instanceof KilnError && e.code === "artifacts-unverified") || (e instanceof Error && !(e instanceof KilnError) && String((e as { code?: unknown }).code ?? "").startsWith("TAR_"));

/**
 * Is the job's copy in the store complete and intact? Reads the manifest, then every object, re-hashing
 * each. With `expected` (e.g. the manifest the machine or a pull computed), also checks the store holds
 * each of those files with the same hash. Never throws for a missing or damaged copy (that is `ok: false`);
 * throws UserError when the credentials cannot read the store.
 *
 * @example
 *   const c = await verifyDurableCopy({ location: storeLocation(spec.artifacts.store!, jobId), credentials: storeCredentialsFromEnv(spec.artifacts.store!, process.env) });
 *   if (!c.ok) logger.warn(`durable copy incomplete: ${c.reason}`);
 */
export async function verifyDurableCopy(a: StoreAccess & { expected?: Manifest }): Promise<DurableCopyCheck> {
  const r = await readerFor(a);
  try {
    const stored = await readManifest(r, a);
    const manifest = stored?.files;
    const out: DurableCopyCheck = { ok: false, manifest, verified: 0, missing: [], mismatched: [], notInManifest: [] };
    if (!stored || !manifest) return { ...out, reason: `${a.location.url} has no manifest.json: nothing was pushed, or the push did not finish` };
    const inArchive = stored.version === 2 ? await archiveEntries(r, a, stored) : undefined;
    if (inArchive === null) return { ...out, missing: manifest.map((e) => e.path), reason: `${a.location.url} has a manifest but no ${ARCHIVE_NAME}` };
    for (const e of manifest) {
      const got = inArchive ? inArchive.entries.get(e.path) : await streamObject(r, outputKey(a.location, e.path));
      if (!got) out.missing.push(e.path);
      else if (got.size !== e.size || got.sha256 !== e.sha256) out.mismatched.push({ path: e.path, expectedSha256: e.sha256, gotSha256: got.sha256, expectedSize: e.size, gotSize: got.size });
      else out.verified++;
    }
    const listed = new Map(manifest.map((e) => [e.path, e.sha256]));
    out.notInManifest = (a.expected ?? []).filter((e) => listed.get(e.path) !== e.sha256).map((e) => e.path);
    const archiveAltered = inArchive !== undefined && !inArchive.archiveOk;
    out.ok = out.missing.length === 0 && out.mismatched.length === 0 && out.notInManifest.length === 0 && !archiveAltered;
    if (!out.ok) out.reason = `${out.missing.length} missing, ${out.mismatched.length} corrupted, ${out.notInManifest.length} expected files not in the store's manifest${archiveAltered ? `, ${ARCHIVE_NAME} differs from its manifest entry` : ""}`;
    return out;
  } finally {
    r.close();
  }
}

/**
 * Download the job's outputs from the store into `localDir` (each file via `.kiln-part`, renamed once its
 * sha256 matches the manifest). Throws `KilnError("artifacts-unverified")` when the copy is incomplete
 * or corrupt: files already fetched stay, the corrupt one is removed.
 */
export async function fetchFromStore(a: StoreAccess & { localDir: string }): Promise<{ manifest: Manifest; bytes: number }> {
  const r = await readerFor(a);
  try {
    const stored = await readManifest(r, a);
    if (!stored) throw new KilnError("artifacts-unverified", `${a.location.url} has no manifest.json: nothing was pushed there, or the push did not finish`);
    const manifest = stored.files;
    if (stored.version === 2) return { manifest, bytes: await fetchArchive(r, a, stored) };
    let bytes = 0;
    for (const e of manifest) {
      const dest = join(a.localDir, ...e.path.split("/"));
      const part = `${dest}.kiln-part`;
      await mkdir(dirname(dest), { recursive: true });
      const got = await streamObject(r, outputKey(a.location, e.path), createWriteStream(part));
      if (!got || got.size !== e.size || got.sha256 !== e.sha256) {
        await rm(part, { force: true });
        throw new KilnError("artifacts-unverified", `${e.path} in ${a.location.url} is ${got ? "corrupt (sha256 differs from the manifest)" : "missing"}`, { details: { path: e.path } });
      }
      await rename(part, dest);
      bytes += got.size;
    }
    return { manifest, bytes };
  } finally {
    r.close();
  }
}

/** The archive layout's fetch: every entry into its `.kiln-part`, renamed into place once it matches the manifest. */
async function fetchArchive(r: ObjectReader, a: StoreAccess & { localDir: string }, stored: Extract<Stored, { version: 2 }>): Promise<number> {
  const dest = (path: string) => join(a.localDir, ...path.split("/"));
  for (const e of stored.files) await mkdir(dirname(dest(e.path)), { recursive: true });
  let got: Awaited<ReturnType<typeof readArchive>>;
  try {
    got = await readArchive(r, a, stored, (path) => `${dest(path)}.kiln-part`);
  } catch (e) {
    for (const f of stored.files) await rm(`${dest(f.path)}.kiln-part`, { force: true });
    if (!isBadArchive(e)) throw e;
    throw new KilnError("artifacts-unverified", `${a.location.url}/${ARCHIVE_NAME} is not a readable archive of the manifest's files (${e instanceof Error ? e.message : String(e)})`, { cause: e });
  }
  if (!got) throw new KilnError("artifacts-unverified", `${a.location.url} has a manifest but no ${ARCHIVE_NAME}: the push did not finish`);
  const byPath = new Map(got.walk.entries.map((e) => [e.path, e]));
  let bytes = 0;
  const bad: string[] = [];
  for (const e of stored.files) {
    const x = byPath.get(e.path);
    if (x && x.size === e.size && x.sha256 === e.sha256) {
      await rename(`${dest(e.path)}.kiln-part`, dest(e.path));
      bytes += x.size;
    } else {
      await rm(`${dest(e.path)}.kiln-part`, { force: true });
      bad.push(e.path);
    }
  }
  if (bad.length > 0) throw new KilnError("artifacts-unverified", `${bad[0]} in ${a.location.url}/${ARCHIVE_NAME} is ${byPath.has(bad[0]!) ? "corrupt (sha256 differs from the manifest)" : "missing"}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ""}`, { details: { path: bad[0] } });
  if (!got.archiveOk) throw new KilnError("artifacts-unverified", `${a.location.url}/${ARCHIVE_NAME} differs from its manifest entry (its files matched; the archive was altered)`);
  return bytes;
}

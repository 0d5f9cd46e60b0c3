/**
 * Reading the archive layout's `outputs.tar` (./location.ts) as it streams from the store: each entry is
 * checked against the manifest (a regular file, a path the manifest lists, once) and sha256-hashed, and the
 * whole archive is hashed too. Nothing in the archive is trusted: a path the manifest does not list, a link,
 * a device or a second copy of a file is refused, so a hostile store cannot write outside the fetch
 * directory or anywhere the manifest did not name. The tar is parsed by node-tar's streaming Parser, strict.
 */
import { createHash } from "node:crypto";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { Parser, type ReadEntry } from "tar";
import { KilnError } from "../../base/errors.js";
import type { Manifest } from "../../remote/sync/manifest.js";

export interface ArchiveEntryResult {
  path: string;
  size: number;
  sha256: string;
}

export interface ArchiveWalk {
  size: number;
  sha256: string;
  entries: ArchiveEntryResult[];
}

/**
 * Stream `body` (the archive) through the parser. `sinkFor(path)` gives where an entry's bytes go (or
 * undefined to only hash them); it is called only for paths the manifest lists.
 */
export async function walkArchive(body: Readable, manifest: Manifest, sinkFor: (path: string) => Writable | undefined): Promise<ArchiveWalk> {
  const listed = new Set(manifest.map((e) => e.path));
  const seen = new Set<string>();
  const entries: Promise<ArchiveEntryResult>[] = [];
  let refused: Error | undefined;
  const parser = new Parser({ strict: true });
  parser.on("entry", (e: ReadEntry) => {
    const why = e.type !== "File" && e.type !== "OldFile" ? `a ${e.type} entry` : !listed.has(e.path) ? "a path the manifest does not list" : seen.has(e.path) ? "a second copy" : undefined;
    if (why) {
      refused ??= new KilnError("artifacts-unverified", `the store's outputs.tar holds ${why}: ${JSON.stringify(e.path).slice(0, 200)}`);
      e.resume();
      return;
    }
    seen.add(e.path);
    entries.push(hashEntry(e, sinkFor(e.path)));
  });
  const ended = new Promise<void>((resolve, reject) => {
    parser.on("end", () => resolve());
    parser.on("error", reject);
    parser.on("abort", reject);
  });
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
    if (!parser.write(b)) await once(parser, "drain");
  }
  parser.end();
  await ended;
  const got = await Promise.all(entries);
  if (refused) throw refused;
  return { size, sha256: h.digest("hex"), entries: got };
}

async function hashEntry(e: ReadEntry, sink: Writable | undefined): Promise<ArchiveEntryResult> {
  const h = createHash("sha256");
  let size = 0;
  e.on("data", (c: Buffer) => {
    h.update(c);
    size += c.length;
  });
  if (sink) {
    e.pipe(sink);
    await once(sink, "finish");
  } else {
    await once(e, "end");
  }
  return { path: e.path, size, sha256: h.digest("hex") };
}

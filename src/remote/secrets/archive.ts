/**
 * The members of an archive, for the scanner: `.tar`, gzip (`.tar.gz`/`.tgz`, or one gzipped file) and
 * `.zip` (stored or deflated). Archives are recognised by their bytes, not their names, so a renamed
 * tarball is still opened. Everything is synchronous and bounded: decompression stops at the byte
 * budget the caller passes (shared by a whole nest of archives), and at a member count.
 *
 * node-tar (already a dependency, for bundles) decodes the tar headers. No dependency reads zip files,
 * so the central directory is read here and members are inflated with node:zlib; zip64, encrypted
 * members and methods other than stored/deflate are reported as not read, not guessed at.
 */
import { basename } from "node:path";
import { constants, gunzipSync, inflateRawSync } from "node:zlib";
import { Header, type HeaderData, Pax } from "tar";

export interface Member {
  /** Path inside the archive. */
  path: string;
  bytes: Buffer;
}

/** What may still be expanded; decremented as archives are read. */
export interface ExpandBudget {
  bytes: number;
  members: number;
}

export interface Expanded {
  members: Member[];
  /** Why part of the archive was not read (budget spent, unsupported member), if it wasn't all read. */
  incomplete: string[];
}

export type ArchiveKind = "tar" | "gzip" | "zip";

/** The kind of archive `buf` is, from its magic bytes. */
export function sniffArchive(buf: Buffer): ArchiveKind | undefined {
  if (buf.length >= 18 && buf[0] === 0x1f && buf[1] === 0x8b && buf[2] === 8) return "gzip";
  if (buf.length >= 22 && buf[0] === 0x50 && buf[1] === 0x4b && ((buf[2] === 3 && buf[3] === 4) || (buf[2] === 5 && buf[3] === 6))) return "zip";
  if (buf.length >= 1024 && buf.toString("latin1", 257, 262) === "ustar" && new Header(buf, 0).cksumValid) return "tar";
  return undefined;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** Read the members of an archive of a sniffed `kind`; `name` names the single member of a plain gzip. */
export function expandArchive(kind: ArchiveKind, name: string, buf: Buffer, budget: ExpandBudget, limitBytes: number): Expanded {
  const incomplete: string[] = [];
  const spent = () => incomplete.push(`archive expands past ${mib(limitBytes)}: the rest was not read`);
  if (kind === "zip") return { members: zipMembers(buf, budget, incomplete, spent), incomplete };
  if (kind === "tar") return { members: tarMembers(buf, budget, incomplete), incomplete };
  if (budget.bytes <= 0) {
    spent();
    return { members: [], incomplete };
  }
  const out = inflateBounded(gunzipSync, buf, budget.bytes);
  budget.bytes -= out.data.length;
  if (!out.complete) spent();
  if (out.error) incomplete.push(`gzip data is corrupt after ${out.data.length} bytes`);
  if (sniffArchive(out.data) === "tar") return { members: tarMembers(out.data, budget, incomplete), incomplete };
  if (budget.members <= 0) return { members: [], incomplete: [...incomplete, "too many archive members: the rest were not read"] };
  budget.members--;
  return { members: [{ path: basename(name).replace(/\.(gz|gzip)$/i, "") || "data", bytes: out.data }], incomplete };
}

// zlib's sync calls throw instead of returning partial output past maxOutputLength, so on overflow
// decompress ever longer prefixes of the input (sync-flushed, which accepts a cut stream) and keep the
// last that fit: at most about twice the work of the budget itself.
function inflateBounded(fn: typeof gunzipSync, input: Buffer, max: number): { data: Buffer; complete: boolean; error?: boolean } {
  const opts = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, max) };
  try {
    return { data: fn(input, opts), complete: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ERR_BUFFER_TOO_LARGE") return { data: Buffer.alloc(0), complete: true, error: true };
  }
  let best = Buffer.alloc(0);
  for (let n = 512; n < input.length * 2; n *= 2) {
    try {
      best = fn(input.subarray(0, n), opts);
    } catch {
      break;
    }
  }
  return { data: best, complete: false };
}

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

function tarMembers(data: Buffer, budget: ExpandBudget, incomplete: string[]): Member[] {
  const members: Member[] = [];
  let off = 0;
  let ex: HeaderData | undefined;
  let gex: HeaderData | undefined;
  let longPath: string | undefined;
  while (off + 512 <= data.length) {
    const h = new Header(data, off, longPath === undefined ? ex : { ...ex, path: longPath }, gex);
    if (h.nullBlock) break;
    if (!h.cksumValid) {
      incomplete.push(`tar header at byte ${off} is corrupt: the rest was not read`);
      break;
    }
    const size = h.size ?? 0;
    const body = data.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (h.type === "ExtendedHeader") ex = Pax.parse(body.toString("utf8"), ex, false);
    else if (h.type === "GlobalExtendedHeader") gex = Pax.parse(body.toString("utf8"), gex, true);
    else if (h.type === "NextFileHasLongPath" || h.type === "OldGnuLongPath") longPath = body.toString("utf8").replace(/\0[\s\S]*$/, "");
    else {
      if (FILE_TYPES.has(h.type) && h.path) {
        if (budget.members <= 0) {
          incomplete.push("too many archive members: the rest were not read");
          break;
        }
        budget.members--;
        members.push({ path: h.path, bytes: body });
      }
      ex = undefined;
      longPath = undefined;
    }
  }
  return members;
}

function zipMembers(buf: Buffer, budget: ExpandBudget, incomplete: string[], spent: () => void): Member[] {
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    incomplete.push("zip central directory not found: members not read");
    return [];
  }
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) {
    incomplete.push("zip64 archive: members not read");
    return [];
  }
  const members: Member[] = [];
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) {
      incomplete.push("zip central directory is corrupt: the rest was not read");
      break;
    }
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const packed = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const local = buf.readUInt32LE(p + 42);
    const path = buf.toString("utf8", p + 46, p + 46 + nameLen);
    p += 46 + nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
    if (path.endsWith("/")) continue;
    if (flags & 1) {
      incomplete.push(`${path}: encrypted zip member not read`);
      continue;
    }
    if (method !== 0 && method !== 8) {
      incomplete.push(`${path}: zip compression method ${method} not supported, member not read`);
      continue;
    }
    if (local + 30 > buf.length || buf.readUInt32LE(local) !== 0x04034b50) {
      incomplete.push(`${path}: zip local header is corrupt, member not read`);
      continue;
    }
    if (budget.members <= 0 || budget.bytes <= 0) {
      if (budget.members <= 0) incomplete.push("too many archive members: the rest were not read");
      else spent();
      break;
    }
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + packed);
    budget.members--;
    if (method === 0) {
      members.push({ path, bytes: data });
      continue;
    }
    const out = inflateBounded(inflateRawSync as typeof gunzipSync, data, budget.bytes);
    budget.bytes -= out.data.length;
    members.push({ path, bytes: out.data });
    if (out.error) incomplete.push(`${path}: deflate data is corrupt`);
    if (!out.complete) {
      spent();
      break;
    }
  }
  return members;
}

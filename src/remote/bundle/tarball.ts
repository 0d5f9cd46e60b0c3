/**
 * A deterministic ustar/pax stream. node-tar's `create` stats files as it goes (mtimes, uids, the
 * order readdir returns) and takes one cwd; a bundle needs several roots under fixed prefixes and the
 * same bytes for the same tree, so entries are encoded here with node-tar's own Header and Pax
 * encoders: fixed mtime, uid/gid 0, no user names, regular files only.
 */
import { Header, Pax } from "tar";

/** 2000-01-01T00:00:00Z: any fixed instant works; the epoch itself makes some tools warn. */
export const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));

const BLOCK = 512;

/** Header block(s) for a regular file: a pax header first when the path is too long for ustar. */
export function fileHeader(path: string, size: number, mode: number): Buffer {
  const data = { path, mode, size, uid: 0, gid: 0, uname: "", gname: "", mtime: FIXED_MTIME, type: "File" as const };
  const header = new Header(data);
  const block = Buffer.alloc(BLOCK);
  header.encode(block, 0);
  if (!header.needPax) return block;
  const pax = new Pax({ path, size, mtime: FIXED_MTIME }).encode();
  // Re-encode the ustar header with a truncated path; readers take the pax one.
  const short = Buffer.alloc(BLOCK);
  new Header({ ...data, path: path.slice(-99) }).encode(short, 0);
  return Buffer.concat([pax, short]);
}

/** Zero bytes that round `size` up to the next 512-byte block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** Two zero blocks end a tar archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

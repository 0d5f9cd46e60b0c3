/**
 * Byte-level decoders for the scanner: UTF-16 detection, the printable-string runs of a binary (what
 * `strings` and `strings -el` print), and the base64 runs of a text that are worth decoding.
 */

export type Utf16Route = "utf16le" | "utf16be";

const isTextByte = (b: number) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d;

/**
 * UTF-16 by byte-order mark, or (no BOM) by shape: in ASCII-range UTF-16 every other byte is NUL. The
 * first 4 KiB decide; 70% of the code units must look like ASCII text in one byte order.
 */
export function detectUtf16(buf: Uint8Array): { route: Utf16Route; bom: number } | undefined {
  if (buf[0] === 0xff && buf[1] === 0xfe) return { route: "utf16le", bom: 2 };
  if (buf[0] === 0xfe && buf[1] === 0xff) return { route: "utf16be", bom: 2 };
  const n = Math.min(buf.length, 4096) & ~1;
  if (n < 16) return undefined;
  let le = 0;
  let be = 0;
  for (let i = 0; i < n; i += 2) {
    const a = buf[i]!;
    const b = buf[i + 1]!;
    if (b === 0 && isTextByte(a)) le++;
    else if (a === 0 && isTextByte(b)) be++;
  }
  const units = n / 2;
  if (le >= units * 0.7) return { route: "utf16le", bom: 0 };
  if (be >= units * 0.7) return { route: "utf16be", bom: 0 };
  return undefined;
}

/** Decode UTF-16 text (after the BOM); big-endian is byte-swapped first. An odd last byte is dropped. */
export function decodeUtf16(buf: Uint8Array, route: Utf16Route, bom: number): string {
  const body = Buffer.from(buf.buffer, buf.byteOffset + bom, (buf.length - bom) & ~1);
  return (route === "utf16le" ? body : Buffer.from(body).swap16()).toString("utf16le");
}

/** A run of text found in binary bytes: where it starts, and how many bytes each character takes. */
export interface Run {
  offset: number;
  width: 1 | 2;
  text: string;
}

/**
 * Printable runs of at least `min` characters in `buf[start, end)`: ASCII text (with tab, CR and LF,
 * so a PEM block stays one multi-line run) and UTF-16LE text (printable ASCII byte, then NUL). Every
 * rule needs at least 20 characters in a row, and a non-printable byte can't be part of any match, so
 * scanning the runs finds what scanning the raw bytes would. UTF-16BE text shows up as a UTF-16LE run
 * one byte later, less its last character.
 */
export function printableRuns(buf: Uint8Array, start: number, end: number, min = 16): Run[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const runs: Run[] = [];
  let from = -1;
  for (let i = start; i <= end; i++) {
    if (i < end && isTextByte(b[i]!)) {
      if (from < 0) from = i;
    } else if (from >= 0) {
      if (i - from >= min) runs.push({ offset: from, width: 1, text: b.toString("latin1", from, i) });
      from = -1;
    }
  }
  for (const align of [0, 1]) {
    from = -1;
    for (let i = start + align; i <= end; i += 2) {
      if (i + 1 < end && b[i + 1] === 0 && isTextByte(b[i]!)) {
        if (from < 0) from = i;
      } else if (from >= 0) {
        if ((i - from) / 2 >= min) runs.push({ offset: from, width: 2, text: b.toString("utf16le", from, i) });
        from = -1;
      }
    }
  }
  return runs.sort((x, y) => x.offset - y.offset);
}

/** True when at least 90% of the bytes are printable ASCII or whitespace. */
export function looksLikeText(buf: Uint8Array): boolean {
  if (buf.length === 0) return false;
  let printable = 0;
  for (const byte of buf) if (isTextByte(byte)) printable++;
  return printable >= buf.length * 0.9;
}

/** A base64 (or base64url) run in a text. */
export interface Base64Run {
  /** Index in the text where the run starts, and its length there (wrapped: up to the last line's end). */
  index: number;
  length: number;
  /** The characters to decode (a wrapped run's lines joined). */
  chars: string;
  /** The run spans several lines (base64 wrapped at a fixed width), so substitution makes no sense. */
  wrapped: boolean;
}

// Standard or URL-safe alphabet, optional padding. 24 characters decode to 18 bytes: shorter than any
// credential with its name, and short runs are mostly identifiers.
const CANDIDATE = /[A-Za-z0-9+/_-]{24,}={0,2}/g;
// Two or more lines that are nothing but base64, the first at least 40 wide: what base64(1) and PEM write.
const WRAPPED = /^[ \t]*[A-Za-z0-9+/]{40,}={0,2}[ \t]*\r?\n(?:[ \t]*[A-Za-z0-9+/]{4,}={0,2}[ \t]*(?:\r?\n|$))+/gm;

/**
 * The base64 runs of `text` that might hide something: long enough, one alphabet (not a path like
 * `org/some-model`), both letter cases (identifiers and hex digests have one), and not hex. Wrapped
 * blocks come first as one run each; single-line runs inside them are not repeated.
 */
export function* base64Runs(text: string): Generator<Base64Run> {
  const blocks: Array<[number, number]> = [];
  for (const m of text.matchAll(WRAPPED)) {
    const chars = m[0].replace(/\s+/g, "");
    blocks.push([m.index, m.index + m[0].length]);
    if (plausible(chars)) yield { index: m.index, length: m[0].trimEnd().length, chars, wrapped: true };
  }
  let b = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    while (b < blocks.length && blocks[b]![1] <= m.index) b++;
    if (b < blocks.length && blocks[b]![0] <= m.index) continue;
    if (plausible(m[0])) yield { index: m.index, length: m[0].length, chars: m[0], wrapped: false };
  }
}

function plausible(run: string): boolean {
  if (/[+/]/.test(run) && /[-_]/.test(run)) return false;
  if (!/[a-z]/.test(run) || !/[A-Z]/.test(run)) return false;
  return !/^[0-9a-f_-]+=*$/i.test(run);
}

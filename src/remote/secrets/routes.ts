/**
 * The routes a secret can take into a bundle, and how each is undone before the line rules run:
 *
 * - `plain`: the file as UTF-8 text.
 * - `nul-binary`: a file with a NUL in its first 8 KiB (git's test for binary). Its printable runs
 *   (ASCII, and UTF-16LE as `utf16le`) are scanned, so a key file behind a NUL byte, a token among a
 *   compiled file's strings or a key in a pickle are found. Every key-format rule runs; the generic
 *   `*_KEY = <random>` rule only when the file is mostly text (string tables glue names together).
 * - `utf16le` / `utf16be`: UTF-16 text, by byte-order mark or by shape (every other byte NUL).
 * - `base64`: runs of base64/base64url in any text (also wrapped over lines) are decoded, one level
 *   deep. Decoded text is put back in its line, so `AWS_SECRET_ACCESS_KEY: <base64>` reads as the
 *   assignment it hides; decoded bytes go through the binary route.
 * - `joined-strings`: string literals concatenated, continued or escaped (see ./literals.ts).
 * - `ipynb`: a notebook's cell sources and outputs as the text the user saw (see ./notebook.ts).
 * - `archive`: tar, gzip and zip members, recognised by magic bytes; each member takes every route.
 * - `name`: the file name alone (`id_rsa`, `*.p12`), also for archive members.
 *
 * Capped, per bundled file ({@link DEFAULT_SCAN_LIMITS}), each cap reported in {@link ScanReport.unscanned}:
 * binary content past 64 MiB (the first and last 32 MiB are scanned), base64 past 16 Mi characters
 * decoded, string-literal joining past the first 32 MiB of a text, archives past 64 MiB expanded,
 * 2 levels deep or 10,000 members. Plain text is always scanned whole, as before.
 *
 * Not caught: other compression or encryption (xz, bz2, zstd, 7z, encrypted zip members, zip64),
 * base64 inside base64, bytes an archive does not reference (after a tar's end, outside a zip's
 * central directory), and secrets split across lines outside string literals.
 */
import { type ExpandBudget, expandArchive, sniffArchive } from "./archive.js";
import { base64Runs, decodeUtf16, detectUtf16, looksLikeText, printableRuns, type Run } from "./decode.js";
import { ALLOW_PRAGMA, GENERIC_RULES, type Hit, scanLines } from "./lines.js";
import { joinedStrings, type Rendering } from "./literals.js";
import { notebookTexts, rawLineOf } from "./notebook.js";
import { isDotenvFile, NAME_RULES } from "./rules.js";

export type ScanRoute = "plain" | "name" | "nul-binary" | "utf16le" | "utf16be" | "base64" | "joined-strings" | "ipynb" | "archive";

export interface SecretFinding {
  /** Path as the user knows it (relative to the bundle root); inside an archive `outer.tar.gz!inner/path`. */
  file: string;
  /**
   * 1-based line in the text the rule matched: the decoded text for UTF-16, the raw `.ipynb` line for a
   * notebook cell, the line of the encoded run for base64. 0 when the position is a byte {@link offset},
   * or for a finding about the file as a whole (its name).
   */
  line: number;
  /** Byte offset in the (innermost) file, for findings in binary content. */
  offset?: number;
  rule: string;
  /** `plain`, or the {@link ScanRoute} steps taken, outermost first, joined by `>` (`archive>base64`). */
  route: string;
  /** The first few characters and the length, e.g. `hf_a****… (37 chars)`. Never the secret itself. */
  preview: string;
  /** The bundled file that holds the archive member {@link file} names: the path `bundle.allow_secrets` matches. */
  archive?: string;
}

/** Part of a file the scan did not look at, and why (a limit, an unreadable archive member). */
export interface Unscanned {
  file: string;
  reason: string;
}

export interface ScanReport {
  findings: SecretFinding[];
  unscanned: Unscanned[];
}

/** What one bundled file may cost to scan. */
export interface ScanLimits {
  /** Binary content scanned per file; past it, the first and last halves of this size are. */
  binaryBytes: number;
  /** Base64 characters decoded per file (an archive member counts as a file). */
  base64Chars: number;
  /** Text examined for joined string literals per file (from the start). */
  literalChars: number;
  /** Bytes expanded from the archives in one bundled file, nested ones included. */
  archiveBytes: number;
  /** Archive levels opened: 2 opens a zip inside a tarball, not an archive inside that. */
  archiveDepth: number;
  /** Archive members read per bundled file. */
  archiveMembers: number;
}

const MiB = 1024 * 1024;
export const DEFAULT_SCAN_LIMITS: Readonly<ScanLimits> = {
  binaryBytes: 64 * MiB,
  base64Chars: 16 * MiB,
  literalChars: 32 * MiB,
  archiveBytes: 64 * MiB,
  archiveDepth: 2,
  archiveMembers: 10_000,
};

/** NUL bytes in the first 8 KiB: the same heuristic git uses to call a file binary. */
export function isBinary(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, 8192);
  for (let i = 0; i < n; i++) if (buf[i] === 0) return true;
  return false;
}

/**
 * Scan a file's bytes by every route, within `limits`.
 *
 * @example
 *   const { findings, unscanned } = scanFile("data/run.tar.gz", await readFile(path));
 *   for (const u of unscanned) logger.warn(`not scanned: ${u.file}: ${u.reason}`);
 */
export function scanFile(file: string, bytes: Uint8Array, limits: Partial<ScanLimits> = {}): ScanReport {
  const scan = new FileScan({ ...DEFAULT_SCAN_LIMITS, ...limits });
  scan.bytes({ label: file, name: file, steps: [] }, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
  return { findings: scan.findings, unscanned: scan.unscanned };
}

/** Findings from the file's name alone. */
export function nameFindings(file: string, route = "name"): SecretFinding[] {
  return NAME_RULES.filter((r) => r.matches(file)).map((r) => ({ file, line: 0, rule: r.id, route, preview: "(file name)" }));
}

/** A file being scanned: the label findings carry, the name rules look at, and the route so far. */
interface Target {
  label: string;
  name: string;
  archive?: string;
  steps: readonly ScanRoute[];
}

interface Position {
  line: number;
  offset?: number;
}

/** Where a hit in a derived text lies in the file; undefined drops the hit (its line is allow-listed). */
type Locate = (line: number, column: number) => Position | undefined;

interface TextOptions {
  dotenv: boolean;
  /** Run the generic assignment rule (off for the strings of a real binary, which run names together). */
  generic?: boolean;
  literals: boolean;
  base64: boolean;
}

const routeOf = (steps: readonly ScanRoute[]) => (steps.length === 0 ? "plain" : steps.join(">"));
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

class FileScan {
  readonly findings: SecretFinding[] = [];
  readonly unscanned: Unscanned[] = [];
  readonly #seen = new Set<string>();
  readonly #noted = new Set<string>();
  readonly #budget: ExpandBudget;
  #base64Left = 0;

  constructor(readonly limits: ScanLimits) {
    this.#budget = { bytes: limits.archiveBytes, members: limits.archiveMembers };
  }

  bytes(t: Target, buf: Buffer, depth: number): void {
    for (const f of nameFindings(t.name, routeOf([...t.steps, "name"]))) this.#add(t, { line: 0 }, f);
    this.#base64Left = this.limits.base64Chars;
    const kind = sniffArchive(buf);
    if (kind && depth >= this.limits.archiveDepth) {
      this.#note(t, `archive nested more than ${this.limits.archiveDepth} deep: not opened`);
    } else if (kind) {
      const x = expandArchive(kind, t.name, buf, this.#budget, this.limits.archiveBytes);
      for (const reason of x.incomplete) this.#note(t, reason);
      for (const m of x.members) {
        this.bytes({ label: `${t.label}!${m.path}`, name: m.path, archive: t.archive ?? t.label, steps: [...t.steps, "archive"] }, m.bytes, depth + 1);
      }
      // An archive that could not be read at all is scanned as the binary it is.
      if (x.members.length > 0 || x.incomplete.length === 0) return;
    }
    const dotenv = isDotenvFile(t.name);
    const binary = isBinary(buf);
    const utf16 = binary || buf[0] === 0xff || buf[0] === 0xfe ? detectUtf16(buf) : undefined;
    if (utf16 && buf.length <= this.limits.binaryBytes) {
      const text = decodeUtf16(buf, utf16.route, utf16.bom);
      this.#text(t, text, [...t.steps, utf16.route], (line) => ({ line }), { dotenv, literals: true, base64: true });
      return;
    }
    if (binary) {
      this.#binary(t, buf, t.steps, dotenv);
      return;
    }
    const text = buf.toString("utf8");
    if (/\.ipynb$/i.test(t.name)) {
      const cells = notebookTexts(text);
      if (cells) {
        this.#text(t, text, t.steps, (line) => ({ line }), { dotenv, literals: false, base64: false });
        const rawLines = text.split(/\r?\n/);
        for (const cell of cells) {
          const cellLines = cell.split(/\r?\n/);
          this.#text(t, cell, [...t.steps, "ipynb"], (line) => ({ line: rawLineOf(rawLines, cellLines[line - 1] ?? "") }), { dotenv: false, literals: true, base64: true });
        }
        return;
      }
    }
    this.#text(t, text, t.steps, (line) => ({ line }), { dotenv, literals: true, base64: true });
  }

  // Printable runs of binary bytes (head and tail only past the limit), as ASCII and as UTF-16LE. `at`
  // is set for decoded base64: every hit is placed at the run, and nothing is decoded again.
  #binary(t: Target, buf: Buffer, steps: readonly ScanRoute[], dotenv: boolean, at?: Locate): void {
    const half = Math.floor(this.limits.binaryBytes / 2);
    const capped = buf.length > this.limits.binaryBytes;
    if (capped) this.#note(t, `binary over ${mib(this.limits.binaryBytes)}: bytes ${half}-${buf.length - half} not scanned`);
    const runs = capped ? [...printableRuns(buf, 0, half), ...printableRuns(buf, buf.length - half, buf.length)] : printableRuns(buf, 0, buf.length);
    // Text behind a NUL byte reads as text; a compiled file's string table runs names together
    // (`caseToken":"colonTokenwith…`), which the generic assignment rule would take for a secret.
    const textual = at === undefined && looksLikeText(buf.subarray(0, 64 * 1024));
    for (const width of [1, 2] as const) {
      const { text, starts } = joinRuns(runs.filter((r) => r.width === width));
      if (text.length === 0) continue;
      const locate: Locate = at ?? ((line, column) => ({ line: 0, offset: (starts[line - 1] ?? 0) + column * width }));
      const route: ScanRoute = width === 1 ? "nul-binary" : "utf16le";
      this.#text(t, text, [...steps, route], locate, { dotenv: dotenv && textual, generic: textual, literals: false, base64: at === undefined });
    }
  }

  #text(t: Target, text: string, steps: readonly ScanRoute[], locate: Locate, opts: TextOptions): void {
    this.#hits(t, scanLines(text, { dotenv: opts.dotenv, ...(opts.generic === false && { except: GENERIC_RULES }) }), steps, locate);
    if (opts.literals) {
      if (text.length > this.limits.literalChars) this.#note(t, `string literals past the first ${mib(this.limits.literalChars)} not joined`);
      const joined = joinedStrings(text, this.limits.literalChars);
      const lines = lineIndex(text);
      const via: ScanRoute[] = [...steps, "joined-strings"];
      // A rendered line maps to where its first character came from; the pragma counts on that line.
      const fromRendering =
        (r: Rendering): Locate =>
        (line) => {
          const p = lines.position(r.starts[line - 1] ?? -1);
          return p && !lines.hasPragma(p.line) ? locate(p.line, p.column) : undefined;
        };
      this.#hits(t, scanLines(joined.plus.text), via, fromRendering(joined.plus));
      this.#hits(t, scanLines(joined.adjacent.text, { except: GENERIC_RULES }), via, fromRendering(joined.adjacent));
      this.#hits(t, scanLines(joined.list.text, { only: ["private-key"] }), via, fromRendering(joined.list));
    }
    if (opts.base64) this.#base64(t, text, steps, locate);
  }

  #base64(t: Target, text: string, steps: readonly ScanRoute[], locate: Locate): void {
    const lines = lineIndex(text);
    const via: ScanRoute[] = [...steps, "base64"];
    for (const run of base64Runs(text)) {
      const p = lines.position(run.index)!;
      if (lines.hasPragma(p.line)) continue;
      const spent = `base64 budget of ${this.limits.base64Chars} characters spent: later runs not decoded`;
      if (this.#base64Left <= 0) {
        this.#note(t, spent);
        return;
      }
      let chars = run.chars;
      if (chars.length > this.#base64Left) {
        chars = chars.slice(0, this.#base64Left & ~3);
        this.#note(t, spent);
      }
      this.#base64Left -= run.chars.length;
      const decoded = Buffer.from(chars, "base64");
      const pos = locate(p.line, p.column);
      if (decoded.length < 12 || pos === undefined) continue;
      const at: Locate = () => pos;
      if (looksLikeText(decoded)) {
        // Back in its line, so a name before the run (`AWS_SECRET_ACCESS_KEY: <base64>`) still counts.
        const plain = decoded.toString("utf8");
        const line = lines.text(p.line);
        const inLine = run.wrapped ? plain : line.slice(0, p.column) + plain + line.slice(p.column + run.length);
        this.#hits(t, scanLines(inLine), via, at);
        continue;
      }
      const utf16 = detectUtf16(decoded);
      if (utf16) this.#hits(t, scanLines(decodeUtf16(decoded, utf16.route, utf16.bom)), [...via, utf16.route], at);
      else this.#binary(t, decoded, via, false, at);
    }
  }

  #hits(t: Target, hits: readonly Hit[], steps: readonly ScanRoute[], locate: Locate): void {
    for (const h of hits) {
      const pos = locate(h.line, h.column);
      if (pos === undefined) continue;
      this.#add(t, pos, { rule: h.rule, route: routeOf(steps), preview: h.preview });
    }
  }

  #add(t: Target, pos: Position, f: { rule: string; route: string; preview: string }): void {
    const key = `${t.label}\0${f.rule}\0${pos.line}\0${pos.offset ?? ""}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.findings.push({
      file: t.label,
      line: pos.line,
      ...(pos.offset !== undefined && { offset: pos.offset }),
      rule: f.rule,
      route: f.route,
      preview: f.preview,
      ...(t.archive !== undefined && { archive: t.archive }),
    });
  }

  #note(t: Target, reason: string): void {
    const key = `${t.label}\0${reason}`;
    if (this.#noted.has(key)) return;
    this.#noted.add(key);
    this.unscanned.push({ file: t.label, reason });
  }
}

// Runs as one text, a blank line between runs (so a rule's next-line look-ahead stays inside its run),
// with the byte offset where each line starts.
function joinRuns(runs: readonly Run[]): { text: string; starts: number[] } {
  const starts: number[] = [];
  for (const r of runs) {
    starts.push(r.offset);
    for (let i = r.text.indexOf("\n"); i >= 0; i = r.text.indexOf("\n", i + 1)) starts.push(r.offset + (i + 1) * r.width);
    starts.push(-1);
  }
  return { text: runs.map((r) => r.text).join("\n\n"), starts };
}

interface LineIndex {
  /** 1-based line and 0-based column of a character index; undefined for a negative index. */
  position(index: number): { line: number; column: number } | undefined;
  /** The text of a 1-based line, without its line break. */
  text(line: number): string;
  hasPragma(line: number): boolean;
}

// Character index → (line, column) in a text, built on first use: only texts with hits pay for it.
function lineIndex(text: string): LineIndex {
  let starts: number[] | undefined;
  const build = () => {
    if (starts) return starts;
    starts = [0];
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
    return starts;
  };
  return {
    position(index) {
      if (index < 0) return undefined;
      const s = build();
      let lo = 0;
      let hi = s.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (s[mid]! <= index) lo = mid;
        else hi = mid - 1;
      }
      return { line: lo + 1, column: index - s[lo]! };
    },
    text(line) {
      const s = build();
      if (line < 1 || line > s.length) return "";
      return text.slice(s[line - 1], s[line] ?? text.length).replace(/\r?\n$/, "");
    },
    hasPragma(line) {
      return this.text(line).includes(ALLOW_PRAGMA);
    },
  };
}

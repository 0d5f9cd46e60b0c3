/**
 * String literals put back together the way the language would: `"AKIA" + "…"`, Python's implicit
 * `"a" "b"` (also across lines inside parentheses), backslash-continued lines, and escapes decoded
 * (`\n`, `\x41`, `\u0041`), so a secret split across literals, or stuck to the letter of an escape
 * (`"…\nhf_…"` reads as `nhf_…` raw), is whole again. Lists of literals (`["-----BEGIN …-----",
 * "MIIE…", …]`) are joined one element per line for the private-key rule only: a PEM stored line by
 * line in a JSON array. Joining list elements for every rule would glue unrelated values together
 * (`["hf_", "tokenizer", …]`) and fire on them.
 *
 * Not caught, on purpose: values joined at run time from variables (`"hf_" + suffix`), `.join()` and
 * f-strings, literals interleaved with comments, and a secret split across lines of plain text (no
 * quotes to say the pieces belong together).
 */
import { ANY_RULE_QUICK } from "./lines.js";

/** Rendered text, one joined group after another, each followed by a blank line. */
export interface Rendering {
  text: string;
  /** Index in the source text where each line of `text` starts (-1 for the blank separator lines). */
  starts: number[];
}

export interface JoinedStrings {
  /** Concatenations with `+`, and single literals with escapes: for every rule. */
  plus: Rendering;
  /**
   * Literals side by side (`"a" "b"`, also over continued lines): Python and C concatenate them, a shell
   * passes them as separate words (`cc '-DX=1' '-DY=2'`), so the generic assignment rule is left out.
   */
  adjacent: Rendering;
  /** List elements one per line: for the private-key rule only. */
  list: Rendering;
}

// One-line "…" and '…' literals (a backslash-newline continues them), and `…` template literals of
// up to 4 KiB over any lines (a stray backtick in prose or a C comment must not swallow the file). The
// alternatives are disjoint, so matching stays linear.
const LITERAL = /"(?:[^"\\\n]|\\(?:\r?\n|.))*"|'(?:[^'\\\n]|\\(?:\r?\n|.))*'|`(?:[^`\\]|\\[\s\S]){0,4096}`/g;
// What may stand between two literals of one concatenation: whitespace, line continuations, one `+`.
const CONCAT_SEPARATOR = /^(?:\s|\\\r?\n)*\+?(?:\s|\\\r?\n)*$/;
const LIST_SEPARATOR = /^\s*,\s*$/;
const MAX_SEPARATOR = 256;
// \x41 and \u0041 can spell a rule's prefix, so a group using them is rendered whatever it reads raw.
const SPELLING_ESCAPE = /\\[xu]/;

interface Literal {
  /** Index of the opening quote. */
  start: number;
  end: number;
}

/**
 * The groups of literals worth rendering: concatenations and escaped literals whose raw text could hold
 * a rule's match (a quick test on the bodies run together, so a prefix split in two still counts), and
 * lists when the text mentions a private key. Only the first `maxChars` of the text are looked at.
 */
export function joinedStrings(text: string, maxChars: number): JoinedStrings {
  const out: JoinedStrings = { plus: { text: "", starts: [] }, adjacent: { text: "", starts: [] }, list: { text: "", starts: [] } };
  if (!/["'`]/.test(text)) return out;
  const source = text.length > maxChars ? text.slice(0, maxChars) : text;
  const wantLists = source.includes("PRIVATE KEY");
  const bodies = (group: readonly Literal[]) => group.map((l) => source.slice(l.start + 1, l.end - 1)).join("");
  let concatGroup: Literal[] = [];
  let withPlus = false;
  let listGroup: Literal[] = [];
  const flushConcat = () => {
    const single = concatGroup.length === 1 ? concatGroup[0]! : undefined;
    const worth = concatGroup.length > 1 || (single !== undefined && source.slice(single.start, single.end).includes("\\"));
    const raw = worth ? bodies(concatGroup) : "";
    if (worth && (ANY_RULE_QUICK.test(raw) || SPELLING_ESCAPE.test(raw))) {
      append(withPlus || concatGroup.length === 1 ? out.plus : out.adjacent, source, concatGroup, "");
    }
    concatGroup = [];
    withPlus = false;
  };
  const flushList = () => {
    if (listGroup.length > 1 && bodies(listGroup).includes("PRIVATE KEY")) append(out.list, source, listGroup, "\n");
    listGroup = [];
  };
  let prev: Literal | undefined;
  for (const m of source.matchAll(LITERAL)) {
    const lit = { start: m.index, end: m.index + m[0].length };
    const gap = prev && lit.start - prev.end <= MAX_SEPARATOR ? source.slice(prev.end, lit.start) : undefined;
    if (gap === undefined || !CONCAT_SEPARATOR.test(gap)) flushConcat();
    else if (gap.includes("+")) withPlus = true;
    concatGroup.push(lit);
    if (wantLists) {
      if (gap === undefined || !LIST_SEPARATOR.test(gap)) flushList();
      listGroup.push(lit);
    }
    prev = lit;
  }
  flushConcat();
  flushList();
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v", "0": "\0" };

// Render a group into `out`: bodies decoded and joined by `sep` ("" or "\n"), then a blank line.
function append(out: Rendering, source: string, group: readonly Literal[], sep: string): void {
  let text = "";
  const starts: number[] = [group[0]!.start + 1];
  const newline = (at: number) => {
    text += "\n";
    starts.push(at);
  };
  for (const [k, lit] of group.entries()) {
    if (k > 0 && sep === "\n" && !text.endsWith("\n")) newline(lit.start + 1);
    for (let i = lit.start + 1; i < lit.end - 1; i++) {
      const c = source[i]!;
      if (c === "\n") {
        newline(i + 1);
        continue;
      }
      if (c !== "\\" || i + 1 >= lit.end - 1) {
        text += c;
        continue;
      }
      const e = source[i + 1]!;
      if (e === "\n" || (e === "\r" && source[i + 2] === "\n")) {
        i += e === "\r" ? 2 : 1; // a line continuation joins the lines
      } else if (e === "n") {
        i++;
        newline(i + 1);
      } else if (SIMPLE_ESCAPES[e] !== undefined) {
        text += SIMPLE_ESCAPES[e];
        i++;
      } else if (e === "x" && /^[0-9a-f]{2}$/i.test(source.slice(i + 2, i + 4))) {
        text += String.fromCharCode(Number.parseInt(source.slice(i + 2, i + 4), 16));
        i += 3;
      } else if (e === "u" && /^[0-9a-f]{4}$/i.test(source.slice(i + 2, i + 6))) {
        text += String.fromCharCode(Number.parseInt(source.slice(i + 2, i + 6), 16));
        i += 5;
      } else if (`"'\`\\/`.includes(e)) {
        text += e;
        i++;
      } else {
        text += c; // unknown escape: keep the backslash, as Python does
      }
    }
  }
  out.text += `${text}\n\n`;
  out.starts.push(...starts, -1);
}

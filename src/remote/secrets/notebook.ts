/**
 * Jupyter notebooks (`.ipynb`): the JSON keeps each source line as a separate, escaped string, so a
 * quoted assignment reads `KEY = \"…\"` and a PEM in an output is a list of strings; the line rules
 * miss both in the raw file. Each cell's source, attachments and outputs are joined back into the text
 * the user saw and scanned as such.
 */
import { z } from "zod";

const multiline = z.union([z.string(), z.array(z.string())]);
const output = z.looseObject({
  text: multiline.optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  traceback: z.array(z.string()).optional(),
  evalue: z.string().optional(),
});
const notebook = z.looseObject({
  cells: z.array(
    z.looseObject({
      source: multiline.optional(),
      outputs: z.array(output).optional(),
      attachments: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
    }),
  ),
});

const join = (v: string | string[]) => (typeof v === "string" ? v : v.join(""));
const textOf = (v: unknown) => (typeof v === "string" ? v : Array.isArray(v) && v.every((x) => typeof x === "string") ? v.join("") : JSON.stringify(v, null, 1));

/** The texts of a notebook: per cell, its source, each attachment and each output. Undefined if not one. */
export function notebookTexts(raw: string): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const nb = notebook.safeParse(parsed);
  if (!nb.success) return undefined;
  const texts: string[] = [];
  for (const cell of nb.data.cells) {
    if (cell.source !== undefined) texts.push(join(cell.source));
    for (const files of Object.values(cell.attachments ?? {})) texts.push(...Object.values(files).map(textOf));
    for (const out of cell.outputs ?? []) {
      if (out.text !== undefined) texts.push(join(out.text));
      texts.push(...Object.values(out.data ?? {}).map(textOf));
      if (out.traceback) texts.push(out.traceback.join("\n"));
      if (out.evalue !== undefined) texts.push(out.evalue);
    }
  }
  return texts.filter((t) => t.length > 0);
}

/**
 * The raw file's line (1-based) holding a line of a cell's text, found by its JSON-escaped form (the
 * first such line; a source stored as one string is one raw line); 0 for a line too short to place.
 */
export function rawLineOf(rawLines: readonly string[], cellLine: string): number {
  const needle = JSON.stringify(cellLine.trim()).slice(1, -1).slice(0, 200);
  if (needle.length < 8) return 0;
  const i = rawLines.findIndex((l) => l.includes(needle));
  return i + 1;
}

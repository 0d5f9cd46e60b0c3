/**
 * The job's local inputs, checked before a machine is rented: a `workload.sae.dataset.path` must exist and
 * its first records must parse the way kiln_sae will read them (workload/kiln_sae/data.py): JSONL lines
 * are JSON objects with the text field the spec names (or an LMSYS `conversation`), text files are UTF-8,
 * Parquet files start with their magic. A Hugging Face dataset (`name`) is fetched on the machine and
 * not checked here. Only the first records are read: a cheap check that catches the wrong file, the
 * wrong field name and a typo in the path, not a full validation.
 */
import { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { UserError } from "../../base/errors.js";
import type { JobSpec } from "../spec/index.js";
import { commandWorkDir } from "./prepare.js";

// The extensions kiln_sae reads in a directory, and how it decides a file's format (data.py).
const JSONL_EXT = [".jsonl", ".json", ".ndjson"];
const TEXT_EXT = [".txt", ".text", ".md"];
const PARQUET_EXT = [".parquet"];
/** Records checked per file, and the most read to find them. */
const SAMPLE_RECORDS = 20;
const SAMPLE_BYTES = 1024 * 1024;

const FIELD = "workload.sae.dataset.path";

/** Check the job's local inputs; returns what was checked, throws a UserError naming the field or file and the fix. */
export function checkLocalInputs(spec: JobSpec, specDir: string, o: { mayBeOnHost: boolean; remote: boolean }): string | { skipped: string } {
  const w = spec.workload;
  if (w.type === "command") {
    // Shipped to a machine, the working directory must lie inside the spec's folder (the folder shipped).
    const dir = o.remote ? commandWorkDir(spec, specDir)! : resolve(specDir, w.workdir ?? ".");
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`workload.workdir: ${dir} is not a directory`, { exitCode: 2, hint: "fix workload.workdir (relative to the spec's folder)" });
    return `working directory ${dir}${o.remote ? " (shipped with the job)" : ""}`;
  }
  const d = w.sae.dataset;
  if (d.path === undefined) return { skipped: `dataset ${d.name ?? "?"} is a Hugging Face dataset, fetched on the machine` };
  const path = isAbsolute(d.path) ? d.path : resolve(specDir, d.path);
  if (!existsSync(path)) {
    if (o.mayBeOnHost) return { skipped: `${path} is not on this computer; it must exist on your host` };
    throw new UserError(`${FIELD}: ${path} does not exist`, {
      exitCode: 2,
      hint: `fix the path (a relative one resolves against the spec's folder, ${specDir}), or use dataset.name for a Hugging Face dataset`,
    });
  }
  const files = datasetFiles(path);
  const fmt = d.format ?? "auto";
  const textField = d.text_field ?? "text";
  let records = 0;
  for (const f of files.slice(0, 3)) records += checkFile(f, fmt, textField);
  return `${path}: ${files.length} file${files.length === 1 ? "" : "s"}, first ${records} record${records === 1 ? "" : "s"} parse (${fmt === "auto" ? "format auto" : fmt}, text field ${JSON.stringify(textField)})`;
}

function datasetFiles(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  const known = [...JSONL_EXT, ...TEXT_EXT, ...PARQUET_EXT];
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else if (known.some((e) => name.endsWith(e))) found.push(p);
    }
  };
  walk(path);
  if (found.length === 0) throw new UserError(`${FIELD}: ${path} is a directory with no ${known.join("/")} files`, { exitCode: 2, hint: "point dataset.path at the data file, or at a folder that holds them" });
  return found.sort();
}

/** Check one file's first records; returns how many were checked. */
function checkFile(file: string, fmt: string, textField: string): number {
  const head = readHead(file);
  if (fmt === "parquet" || ((fmt === "auto" || fmt === "lmsys") && file.endsWith(".parquet"))) {
    if (head.subarray(0, 4).toString("latin1") !== "PAR1") throw bad(file, "is not a Parquet file (no PAR1 magic)", "check the file, or set dataset.format");
    return 0;
  }
  if (head.length === 0) throw bad(file, "is empty", "point dataset.path at a file with records");
  const text = decodeUtf8(file, head);
  if (fmt === "text" || (fmt === "auto" && !JSONL_EXT.some((e) => file.endsWith(e)))) return text.split("\n").filter((l) => l.trim()).slice(0, SAMPLE_RECORDS).length;
  const lines = text.split("\n");
  // The last line of a partial read may be cut in the middle.
  if (head.length === SAMPLE_BYTES) lines.pop();
  let n = 0;
  for (const [i, line] of lines.entries()) {
    if (n >= SAMPLE_RECORDS) break;
    if (!line.trim()) continue;
    n++;
    const where = `${file}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw bad(where, `is not valid JSON (${(e as Error).message})`, "each line of a JSONL file is one JSON object; set dataset.format: text for plain text");
    }
    if (typeof record !== "object" || record === null || Array.isArray(record)) throw bad(where, `is a JSON ${Array.isArray(record) ? "array" : typeof record}, not an object`, "each line of a JSONL file is one JSON object");
    const r = record as Record<string, unknown>;
    if (fmt === "lmsys" || (fmt === "auto" && "conversation" in r)) {
      if (!Array.isArray(r["conversation"])) throw bad(where, "has no `conversation` list (format lmsys)", "check the file, or set dataset.format");
      continue;
    }
    if (typeof r[textField] !== "string") {
      const fields = Object.keys(r).slice(0, 8).join(", ");
      throw new UserError(`workload.sae.dataset.text_field: ${where} has no string field ${JSON.stringify(textField)} (fields: ${fields || "none"})`, {
        exitCode: 2,
        hint: `set dataset.text_field to the field that holds the text${fields ? ` (one of: ${fields})` : ""}`,
      });
    }
  }
  if (n === 0) throw bad(file, "has no records", "point dataset.path at a file with records");
  return n;
}

function readHead(file: string): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(SAMPLE_BYTES);
    const n = readSync(fd, buf, 0, SAMPLE_BYTES, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function decodeUtf8(file: string, head: Buffer): string {
  try {
    // stream: a multi-byte character cut by the sample's end is not an error.
    return new TextDecoder("utf-8", { fatal: true }).decode(head, { stream: head.length === SAMPLE_BYTES });
  } catch (e) {
    throw bad(file, "is not UTF-8 text", "convert it to UTF-8 (e.g. iconv -t UTF-8), or point dataset.path at the right file", e);
  }
}

const bad = (where: string, what: string, hint: string, cause?: unknown) => new UserError(`${FIELD}: ${where} ${what}`, { exitCode: 2, hint, ...(cause !== undefined && { cause }) });

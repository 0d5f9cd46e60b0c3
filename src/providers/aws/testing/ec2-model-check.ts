/**
 * Kiln's EC2 requests checked against AWS's own model: ./ec2-model.subset.json is an extract of botocore's
 * EC2 service model (see its `_provenance`: the operations Kiln calls and their shape closure). The EC2
 * Query protocol sends a form (`Action=RunInstances&InstanceType=g5.xlarge&TagSpecification.1.Tag.1.Key=…`);
 * each parameter must name a member by its EC2 query name (queryName, else the capitalised locationName,
 * else the member name), lists flattened as `.N` from 1, and each value must fit its shape (enum, integer,
 * boolean, timestamp, string length). Required top-level members must be present.
 *
 * The front records every request that passes through it; a test feeds them here and expects no violation.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

interface Member {
  shape: string;
  locationName?: string;
  queryName?: string;
}
interface Shape {
  type: string;
  members?: Record<string, Member>;
  member?: Member;
  required?: string[];
  enum?: string[];
  max?: number;
  min?: number;
}
interface Model {
  operations: Record<string, { input?: { shape: string } }>;
  shapes: Record<string, Shape>;
}

let model: Model | undefined;
const load = (): Model => {
  model ??= JSON.parse(readFileSync(join(import.meta.dirname, "ec2-model.subset.json"), "utf8")) as Model;
  return model;
};

const queryKey = (name: string, m: Member): string => m.queryName ?? (m.locationName ? m.locationName[0]!.toUpperCase() + m.locationName.slice(1) : name);

/** Violations of one EC2 Query request (an empty list when it conforms). */
export function checkEc2Request(form: URLSearchParams): string[] {
  const m = load();
  const action = form.get("Action");
  if (!action) return ["no Action parameter"];
  const op = m.operations[action];
  if (!op) return [`${action}: not an operation of the extract (add it to ec2-model.subset.json if Kiln now calls it)`];
  const out: string[] = [];
  if (form.get("Version") !== "2016-11-15") out.push(`${action}: Version ${form.get("Version")} is not the model's 2016-11-15`);
  const input = op.input ? m.shapes[op.input.shape] : undefined;
  const seenTop = new Set<string>();
  for (const [key, value] of form.entries()) {
    if (key === "Action" || key === "Version") continue;
    const err = resolve(m, input, key.split("."), value, seenTop);
    if (err) out.push(`${action}: ${key}=${JSON.stringify(value.slice(0, 60))}: ${err}`);
  }
  for (const r of input?.required ?? []) {
    const mem = input?.members?.[r];
    if (mem && !seenTop.has(queryKey(r, mem))) out.push(`${action}: required ${r} is missing`);
  }
  return out;
}

function resolve(m: Model, shape: Shape | undefined, path: string[], value: string, seenTop?: Set<string>): string | undefined {
  if (!shape) return "no such shape";
  if (shape.type === "structure") {
    const [head, ...rest] = path;
    const entry = Object.entries(shape.members ?? {}).find(([n, mem]) => queryKey(n, mem) === head);
    if (!entry) return `${head} is not a member (query names: ${Object.entries(shape.members ?? {}).map(([n, mem]) => queryKey(n, mem)).slice(0, 8).join(", ")}…)`;
    seenTop?.add(head!);
    return resolve(m, m.shapes[entry[1].shape], rest, value);
  }
  if (shape.type === "list") {
    const [index, ...rest] = path;
    if (!/^[1-9]\d*$/.test(index ?? "")) return `list index ${index} is not 1, 2, …`;
    return resolve(m, m.shapes[shape.member!.shape], rest, value);
  }
  if (path.length > 0) return `${shape.type} has no member ${path[0]}`;
  switch (shape.type) {
    case "string":
      if (shape.enum && !shape.enum.includes(value)) return `not one of ${shape.enum.slice(0, 12).join(", ")}${shape.enum.length > 12 ? ", …" : ""}`;
      if (shape.max !== undefined && value.length > shape.max) return `longer than ${shape.max}`;
      return undefined;
    case "integer":
    case "long":
      return /^-?\d+$/.test(value) ? undefined : "not an integer";
    case "boolean":
      return value === "true" || value === "false" ? undefined : "not true/false";
    case "timestamp":
      return Number.isNaN(Date.parse(value)) ? "not a timestamp" : undefined;
    case "blob":
      return /^[A-Za-z0-9+/]*={0,2}$/.test(value) ? undefined : "not base64";
    case "double":
    case "float":
      return Number.isNaN(Number(value)) ? "not a number" : undefined;
    default:
      return `unexpected leaf type ${shape.type}`;
  }
}

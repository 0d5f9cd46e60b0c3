/**
 * (Lives in a testing/ folder under src so tests can import it; the build skips testing/ folders.)
 *
 * The part of RunPod's GraphQL schema Kiln uses, written out as SDL, and a checker for one exchange
 * (document, variables, answer) against it. RunPod publishes its schema only as a rendered site
 * (graphql-spec.runpod.io, not in the reference files), so this subset is assembled from RunPod's docs
 * examples (sdks/graphql/manage-pods: `podRentInterruptable` with `bidPerGpu`, `gpuTypes` with
 * `secureSpotPrice`/`communitySpotPrice`) and the official and third-party clients that call it
 * (runpod-python `mutations/pods.py`, `queries/gpus.py`; dstack `api_client.py`; gpuhunt), as gathered in
 * providers.md §2.1–2.2. GUESSES: the input type's name and which input fields are nullable.
 *
 * There is no GraphQL library in the project, so the parser is a small one for the shapes used here: type,
 * input, enum and scalar definitions; operations with variables, fields, arguments that are variables, and
 * nested selections. A document that uses anything else is itself a violation (Kiln never inlines values).
 */
export const RUNPOD_GRAPHQL_SUBSET = `
type Query { gpuTypes(input: GpuTypeFilter): [GpuType] }
type Mutation { podRentInterruptable(input: PodRentInterruptableInput!): Pod }
input GpuTypeFilter { id: String }
type GpuType { id: String! displayName: String manufacturer: String memoryInGb: Int securePrice: Float communityPrice: Float secureSpotPrice: Float communitySpotPrice: Float }
type Pod { id: String! name: String desiredStatus: PodStatus costPerHr: Float imageName: String machineId: String }
enum PodStatus { CREATED RUNNING RESTARTING EXITED PAUSED DEAD TERMINATED }
enum CloudTypeEnum { ALL SECURE COMMUNITY }
input EnvironmentVariableInput { key: String! value: String! }
input PodRentInterruptableInput {
  bidPerGpu: Float! cloudType: CloudTypeEnum gpuCount: Int gpuTypeId: String name: String imageName: String
  containerDiskInGb: Int volumeInGb: Int volumeMountPath: String ports: String env: [EnvironmentVariableInput]
  dataCenterId: String countryCode: String supportPublicIp: Boolean startSsh: Boolean dockerArgs: String
  templateId: String networkVolumeId: String minVcpuCount: Int minMemoryInGb: Int
}
`;

type TypeRef = { kind: "named"; name: string; nonNull: boolean } | { kind: "list"; of: TypeRef; nonNull: boolean };
interface FieldDef {
  type: TypeRef;
  args: Map<string, TypeRef>;
}
type Def = { kind: "scalar" } | { kind: "enum"; values: Set<string> } | { kind: "type" | "input"; fields: Map<string, FieldDef> };
interface Selection {
  name: string;
  args: Map<string, string>;
  selections: Selection[] | undefined;
}

const BUILTIN = ["String", "Int", "Float", "Boolean", "ID"];

class Tokens {
  readonly #t: string[];
  #i = 0;
  constructor(text: string) {
    this.#t = text.replace(/#[^\n]*/g, "").match(/[{}():![\]$=@]|[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|\S/g) ?? [];
  }
  peek(): string | undefined {
    return this.#t[this.#i];
  }
  next(): string {
    const t = this.#t[this.#i++];
    if (t === undefined) throw new Error("unexpected end of document");
    return t;
  }
  expect(want: string): void {
    const t = this.next();
    if (t !== want) throw new Error(`expected "${want}", found "${t}"`);
  }
  name(): string {
    const t = this.next();
    if (!/^[A-Za-z_]\w*$/.test(t)) throw new Error(`expected a name, found "${t}"`);
    return t;
  }
  done(): boolean {
    return this.#i >= this.#t.length;
  }
}

function typeRef(t: Tokens): TypeRef {
  let ref: TypeRef;
  if (t.peek() === "[") {
    t.next();
    const of = typeRef(t);
    t.expect("]");
    ref = { kind: "list", of, nonNull: false };
  } else ref = { kind: "named", name: t.name(), nonNull: false };
  if (t.peek() === "!") {
    t.next();
    ref.nonNull = true;
  }
  return ref;
}

const show = (r: TypeRef): string => `${r.kind === "list" ? `[${show(r.of)}]` : r.name}${r.nonNull ? "!" : ""}`;

export function parseSdl(sdl: string): Map<string, Def> {
  const defs = new Map<string, Def>(BUILTIN.map((n) => [n, { kind: "scalar" }]));
  const t = new Tokens(sdl);
  while (!t.done()) {
    const kw = t.name();
    const name = t.name();
    if (kw === "scalar") defs.set(name, { kind: "scalar" });
    else if (kw === "enum") {
      t.expect("{");
      const values = new Set<string>();
      while (t.peek() !== "}") values.add(t.name());
      t.next();
      defs.set(name, { kind: "enum", values });
    } else if (kw === "type" || kw === "input") {
      t.expect("{");
      const fields = new Map<string, FieldDef>();
      while (t.peek() !== "}") {
        const f = t.name();
        const args = new Map<string, TypeRef>();
        if (t.peek() === "(") {
          t.next();
          while (t.peek() !== ")") {
            const a = t.name();
            t.expect(":");
            args.set(a, typeRef(t));
          }
          t.next();
        }
        t.expect(":");
        fields.set(f, { type: typeRef(t), args });
      }
      t.next();
      defs.set(name, { kind: kw, fields });
    } else throw new Error(`unknown definition "${kw}"`);
  }
  return defs;
}

function parseSelections(t: Tokens): Selection[] {
  t.expect("{");
  const out: Selection[] = [];
  while (t.peek() !== "}") {
    const name = t.name();
    const args = new Map<string, string>();
    if (t.peek() === "(") {
      t.next();
      while (t.peek() !== ")") {
        const a = t.name();
        t.expect(":");
        if (t.next() !== "$") throw new Error(`argument ${name}(${a}:) is not a variable: Kiln never pastes values into a document`);
        args.set(a, t.name());
      }
      t.next();
    }
    out.push({ name, args, selections: t.peek() === "{" ? parseSelections(t) : undefined });
  }
  t.next();
  return out;
}

function parseOperation(doc: string): { type: "query" | "mutation"; vars: Map<string, TypeRef>; selections: Selection[] } {
  const t = new Tokens(doc);
  const type = t.name();
  if (type !== "query" && type !== "mutation") throw new Error(`operation type "${type}" is not query or mutation`);
  if (t.peek() !== "(" && t.peek() !== "{") t.name();
  const vars = new Map<string, TypeRef>();
  if (t.peek() === "(") {
    t.next();
    while (t.peek() !== ")") {
      t.expect("$");
      const v = t.name();
      t.expect(":");
      vars.set(v, typeRef(t));
    }
    t.next();
  }
  const selections = parseSelections(t);
  if (!t.done()) throw new Error("more than one operation in the document");
  return { type, vars, selections };
}

const SCHEMA = parseSdl(RUNPOD_GRAPHQL_SUBSET);

function checkSelections(parent: string, sels: Selection[], vars: Map<string, TypeRef>, where: string, out: string[]): void {
  const def = SCHEMA.get(parent);
  if (def?.kind !== "type") return void out.push(`${where}: ${parent} is not an object type`);
  for (const s of sels) {
    const f = def.fields.get(s.name);
    if (!f) {
      out.push(`${where}: ${parent} has no field "${s.name}"`);
      continue;
    }
    for (const [a, v] of s.args) {
      const argType = f.args.get(a);
      const varType = vars.get(v);
      if (!argType) out.push(`${where}.${s.name}: no argument "${a}"`);
      else if (!varType) out.push(`${where}.${s.name}: variable $${v} is not declared`);
      else if (show(varType) !== show(argType) && show(varType) !== `${show(argType)}!`) out.push(`${where}.${s.name}(${a}): variable type ${show(varType)} does not fit ${show(argType)}`);
    }
    for (const [a, ty] of f.args) if (ty.nonNull && !s.args.has(a)) out.push(`${where}.${s.name}: required argument "${a}" missing`);
    const named = namedOf(f.type);
    const isObject = SCHEMA.get(named)?.kind === "type";
    if (isObject && !s.selections) out.push(`${where}.${s.name}: an object field needs a selection`);
    if (!isObject && s.selections) out.push(`${where}.${s.name}: a leaf field takes no selection`);
    if (isObject && s.selections) checkSelections(named, s.selections, vars, `${where}.${s.name}`, out);
  }
}

const namedOf = (r: TypeRef): string => (r.kind === "list" ? namedOf(r.of) : r.name);

function checkInput(value: unknown, type: TypeRef, where: string, out: string[]): void {
  if (value === null || value === undefined) {
    if (type.nonNull) out.push(`${where}: required (${show(type)})`);
    return;
  }
  if (type.kind === "list") {
    if (!Array.isArray(value)) return void out.push(`${where}: expected a list ${show(type)}`);
    for (const [i, v] of value.entries()) checkInput(v, type.of, `${where}[${i}]`, out);
    return;
  }
  const def = SCHEMA.get(type.name);
  if (!def) return void out.push(`${where}: unknown type ${type.name}`);
  if (def.kind === "scalar") {
    const ok = { String: typeof value === "string", ID: typeof value === "string", Boolean: typeof value === "boolean", Int: Number.isInteger(value), Float: typeof value === "number" }[type.name as "String"];
    if (ok === false) out.push(`${where}: expected ${type.name}, got ${JSON.stringify(value)}`);
  } else if (def.kind === "enum") {
    if (typeof value !== "string" || !def.values.has(value)) out.push(`${where}: expected one of ${[...def.values].join("|")}, got ${JSON.stringify(value)}`);
  } else if (def.kind === "input") {
    if (typeof value !== "object" || Array.isArray(value)) return void out.push(`${where}: expected an input object ${type.name}`);
    const obj = value as Record<string, unknown>;
    for (const k of Object.keys(obj)) if (!def.fields.has(k)) out.push(`${where}: ${type.name} has no field "${k}"`);
    for (const [k, f] of def.fields) checkInput(obj[k], f.type, `${where}.${k}`, out);
  } else out.push(`${where}: ${type.name} is an output type`);
}

function checkOutput(value: unknown, type: TypeRef, sels: Selection[] | undefined, where: string, nullOk: boolean, out: string[]): void {
  if (value === null || value === undefined) {
    if (value === undefined) out.push(`${where}: missing`);
    else if (type.nonNull && !nullOk) out.push(`${where}: null for ${show(type)}`);
    return;
  }
  if (type.kind === "list") {
    if (!Array.isArray(value)) return void out.push(`${where}: expected a list ${show(type)}`);
    for (const [i, v] of value.entries()) checkOutput(v, type.of, sels, `${where}[${i}]`, nullOk, out);
    return;
  }
  const def = SCHEMA.get(type.name);
  if (def?.kind === "scalar" || def?.kind === "enum") {
    checkInput(value, { ...type, nonNull: false }, where, out);
    return;
  }
  if (def?.kind !== "type" || !sels) return void out.push(`${where}: cannot check ${type.name}`);
  if (typeof value !== "object" || Array.isArray(value)) return void out.push(`${where}: expected an object ${type.name}`);
  const obj = value as Record<string, unknown>;
  const wanted = new Set(sels.map((s) => s.name));
  for (const k of Object.keys(obj)) if (!wanted.has(k)) out.push(`${where}: field "${k}" was not selected`);
  for (const s of sels) {
    const f = def.fields.get(s.name);
    if (f) checkOutput(obj[s.name], f.type, s.selections, `${where}.${s.name}`, nullOk, out);
  }
}

/**
 * Problems with one GraphQL exchange: the request (a JSON body with a document this schema validates and
 * variables of the declared types) and the answer (HTTP 200 JSON with `data` shaped by the selection, and/or
 * `errors[]` of `{message, path?, extensions?}`). Non-200 answers (401 for an unknown key) are not checked here.
 */
export function checkGraphqlExchange(request: unknown, status: number, responseText: string): string[] {
  const out: string[] = [];
  const req = request as { query?: unknown; variables?: unknown } | undefined;
  if (typeof req?.query !== "string") return ["request: no `query` string"];
  let op: ReturnType<typeof parseOperation>;
  try {
    op = parseOperation(req.query);
  } catch (e) {
    return [`request document: ${e instanceof Error ? e.message : String(e)}`];
  }
  const root = op.type === "query" ? "Query" : "Mutation";
  checkSelections(root, op.selections, op.vars, root, out);
  const variables = (req.variables ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(variables)) if (!op.vars.has(k)) out.push(`variables: $${k} is not declared`);
  for (const [v, ty] of op.vars) checkInput(variables[v], ty, `$${v}`, out);
  if (status !== 200) return out;
  let body: { data?: unknown; errors?: unknown };
  try {
    body = JSON.parse(responseText) as typeof body;
  } catch {
    return [...out, "answer: not JSON"];
  }
  const errors = body.errors;
  if (errors !== undefined) {
    if (!Array.isArray(errors) || errors.length === 0) out.push("answer: `errors` is not a non-empty list");
    else for (const [i, e] of errors.entries()) if (typeof (e as { message?: unknown })?.message !== "string") out.push(`answer: errors[${i}].message is not a string`);
  }
  if (body.data === undefined || body.data === null) {
    if (errors === undefined) out.push("answer: neither data nor errors");
    return out;
  }
  const rootDef = SCHEMA.get(root);
  if (rootDef?.kind === "type") checkOutput(body.data, { kind: "named", name: root, nonNull: true }, op.selections, "data", errors !== undefined, out);
  return out;
}

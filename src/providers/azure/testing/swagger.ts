/**
 * (Lives in a testing/ folder under src so src tests can import it; the build skips testing/ folders.)
 *
 * A small Swagger 2.0 validator for the Azure emulator's traffic. The kit's checker speaks OpenAPI 3; the
 * Compute spec is Swagger 2.0 (ARM), whose shape differs: operations under `paths`, the request body a
 * parameter `in: body` with a `schema`, query parameters as parameters `in: query`, responses per status
 * (plus `default`, ARM's CloudError), schemas under `definitions`, and `$ref`s that cross files
 * (`./computeRPCommon.json#/definitions/…`, `../../../common-types/v1/common.json#/parameters/…`).
 *
 * Ajv (draft-07, which Swagger 2.0's schema subset is closest to) loads the three files under their own
 * file URLs as `$id`, so relative `$ref`s resolve between them. Swagger-only keywords (`x-ms-*`,
 * `readOnly`, a string `discriminator`) are ignored (strict: false).
 *
 * Checked per exchange of a documented operation: the path and method exist; required query parameters
 * are present and `api-version` is the spec's version; the body parameter's schema; the status is
 * documented (else `default`); the response body matches that status's schema; a long-running
 * operation that answers 201/202 names where to poll (Azure-AsyncOperation or Location).
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import type { Exchange } from "../emulator.js";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => void;

const ROOT = resolve(import.meta.dirname, "..", "swagger", "Microsoft.Compute");
export const VM_SWAGGER = join(ROOT, "ComputeRP", "stable", "2024-07-01", "virtualMachine.json");
const FILES = [VM_SWAGGER, join(ROOT, "ComputeRP", "stable", "2024-07-01", "computeRPCommon.json"), join(ROOT, "common-types", "v1", "common.json")];

type Json = Record<string, unknown>;
interface Param {
  name: string;
  in: string;
  required?: boolean;
  schema?: Json;
}
interface Operation {
  operationId: string;
  method: string;
  template: string;
  pattern: RegExp;
  params: Param[];
  lro: boolean;
  responses: Record<string, { schema?: Json }>;
}

export interface SwaggerSpec {
  version: string;
  operations: Operation[];
  validator(ref: string): ValidateFunction;
}

let loaded: SwaggerSpec | undefined;

/**
 * AutoRest's `x-ms-enum: {modelAsString: true}` makes an enum open: the listed values are known ones, any
 * string is valid (VirtualMachineSizeTypes stops at sizes older than the NC A100 v4, which the API
 * accepts). Such enums are dropped before Ajv sees them; closed enums stay.
 */
function openEnums(node: Json): Json {
  if (Array.isArray(node)) return node.map((n) => (typeof n === "object" && n !== null ? openEnums(n as Json) : n)) as unknown as Json;
  const out: Json = {};
  const open = (node["x-ms-enum"] as Json | undefined)?.["modelAsString"] === true;
  for (const [k, v] of Object.entries(node)) {
    if (k === "enum" && open) continue;
    out[k] = typeof v === "object" && v !== null ? openEnums(v as Json) : v;
  }
  return out;
}

export function loadSwagger(): SwaggerSpec {
  if (loaded) return loaded;
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  // ARM's formats that ajv-formats lacks.
  for (const f of ["int32", "int64", "double", "float", "byte", "duration", "uuid", "password", "arm-id", "base64url", "unixtime"]) if (!ajv.formats[f]) ajv.addFormat(f, true);
  const docs = new Map<string, Json>();
  for (const f of FILES) {
    const doc = openEnums(JSON.parse(readFileSync(f, "utf8")));
    const id = pathToFileURL(f).href;
    docs.set(id, doc);
    ajv.addSchema({ ...doc, $id: id }, id);
  }
  const vmId = pathToFileURL(VM_SWAGGER).href;
  const vm = docs.get(vmId)!;
  const deref = (p: Json, base: string): Param => {
    const ref = p["$ref"] as string | undefined;
    if (!ref) return p as unknown as Param;
    const [file, pointer] = ref.split("#");
    const target = file ? new URL(file, base).href : base;
    let node: unknown = docs.get(target);
    for (const seg of (pointer ?? "").split("/").filter(Boolean)) node = (node as Json)[seg.replaceAll("~1", "/").replaceAll("~0", "~")];
    return deref(node as Json, target);
  };
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(vm["paths"] as Record<string, Json>)) {
    const shared = ((item["parameters"] as Json[] | undefined) ?? []).map((p) => deref(p, vmId));
    for (const method of ["get", "put", "post", "patch", "delete"]) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const params = [...shared, ...((op["parameters"] as Json[] | undefined) ?? []).map((p) => deref(p, vmId))];
      const pattern = new RegExp(`^${template.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+")}$`, "i");
      operations.push({ operationId: String(op["operationId"]), method: method.toUpperCase(), template, pattern, params, lro: op["x-ms-long-running-operation"] === true, responses: op["responses"] as Operation["responses"] });
    }
  }
  const cache = new Map<string, ValidateFunction>();
  const validator = (schemaRef: string) => {
    let v = cache.get(schemaRef);
    if (!v) {
      v = ajv.compile({ $ref: schemaRef });
      cache.set(schemaRef, v);
    }
    return v;
  };
  loaded = { version: String((vm["info"] as Json)["version"]), operations, validator };
  return loaded;
}

/** The `$ref` of an inline schema relative to the VM file, for the validator cache. */
function schemaRef(schema: Json): string {
  const ref = schema["$ref"] as string | undefined;
  const base = pathToFileURL(VM_SWAGGER).href;
  if (ref) return ref.startsWith("#") ? `${base}${ref}` : new URL(ref, base).href;
  throw new Error(`inline schema without $ref: ${JSON.stringify(schema).slice(0, 80)}`);
}

const describeErrors = (v: ValidateFunction) => (v.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || "(root)"} ${e.message}`).join("; ");

export interface Conformance {
  violations: string[];
  /** operationIds exercised (documented ones only). */
  covered: Set<string>;
  /** Exchanges of operations outside the Compute Swagger (resource groups, network, LRO status, …). */
  undocumented: Set<string>;
}

export function checkExchanges(exchanges: readonly Exchange[]): Conformance {
  const spec = loadSwagger();
  const out: Conformance = { violations: [], covered: new Set(), undocumented: new Set() };
  for (const x of exchanges) {
    const op = spec.operations.find((o) => o.method === x.method && o.pattern.test(x.path));
    if (!op) {
      out.undocumented.add(x.op);
      continue;
    }
    out.covered.add(op.operationId);
    const where = `${op.operationId} ${x.method} ${x.path} → ${x.status}`;
    for (const p of op.params) {
      if (p.in === "query" && p.required && x.query[p.name] === undefined) out.violations.push(`${where}: missing query parameter ${p.name}`);
      if (p.in === "body" && p.schema) {
        if (x.requestBody === undefined) {
          if (p.required) out.violations.push(`${where}: missing body`);
        } else {
          const v = spec.validator(schemaRef(p.schema));
          if (!v(x.requestBody)) out.violations.push(`${where}: request body: ${describeErrors(v)}`);
        }
      }
    }
    if (x.query["api-version"] !== spec.version) out.violations.push(`${where}: api-version ${x.query["api-version"]}, the spec is ${spec.version}`);
    const documented = op.responses[String(x.status)];
    const resp = documented ?? op.responses["default"];
    if (!resp) {
      out.violations.push(`${where}: status not documented`);
      continue;
    }
    if (!documented && x.status < 400) out.violations.push(`${where}: success status not documented`);
    if (resp.schema) {
      const v = spec.validator(schemaRef(resp.schema));
      if (!v(x.responseBody)) out.violations.push(`${where}: response body: ${describeErrors(v)}`);
    } else if (x.responseBody !== undefined && x.status < 400) {
      out.violations.push(`${where}: a body where the spec has none`);
    }
    if (op.lro && (x.status === 201 || x.status === 202)) {
      const h = Object.keys(x.headers).map((k) => k.toLowerCase());
      if (!h.includes("azure-asyncoperation") && !h.includes("location")) out.violations.push(`${where}: a long-running operation's ${x.status} without Azure-AsyncOperation or Location`);
    }
  }
  return out;
}

/** The violations of a run's exchanges (an empty list when all conform). */
export async function swaggerViolations(exchanges: readonly Exchange[]): Promise<string[]> {
  return checkExchanges(exchanges).violations;
}

export const specDir = () => dirname(VM_SWAGGER);

/**
 * (Test tooling; the build skips testing/ folders.)
 *
 * Checks GCE traffic against Google's Compute v1 **discovery document** (not OpenAPI, so the kit's
 * OpenApiSpec does not apply): the method and path against `resources.*.methods[*].{httpMethod, path}`
 * (under `servicePath` `compute/v1/`), path and query parameters against each method's `parameters`
 * (plus the document's global ones), request bodies against the method's `request.$ref` and 2xx bodies
 * against its `response.$ref`, with Ajv. Discovery schemas are close to JSON Schema draft 4: `$ref` is a
 * bare schema name (turned into a JSON pointer here), `id`/`annotations`/`enumDescriptions` are dropped,
 * `format: int64|uint64` strings must be decimal, and an object with `properties` accepts no other key
 * (the document lists every field GCE has, so an unknown one is a typo in Kiln or its emulator).
 * Error replies must be Google's JSON envelope, which the document does not define [A].
 *
 * @example
 *   const check = discoveryChecker();
 *   const emu = await startGcpEmulator({ onExchange: check.onExchange });
 *   …; expect(check.violations).toEqual([]);
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";

type Json = Record<string, unknown>;

/** The subset document: instances (all methods), zoneOperations and every schema they reference. */
export const GCE_DISCOVERY = resolve(import.meta.dirname, "..", "discovery", "compute.v1.instances-subset.json");

interface Param {
  location: "path" | "query";
  type: string;
  required?: boolean;
  pattern?: string;
  enum?: string[];
  repeated?: boolean;
}

interface Method {
  id: string;
  httpMethod: string;
  pattern: RegExp;
  pathParams: string[];
  params: Record<string, Param>;
  request: string | undefined;
  response: string | undefined;
}

const DROP = new Set(["id", "description", "annotations", "enumDescriptions", "enumDeprecated", "deprecated"]);

function convert(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(convert);
  if (typeof s !== "object" || s === null) return s;
  const o = s as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (DROP.has(k) && typeof v !== "object") continue;
    if (k === "annotations" || k === "enumDescriptions") continue;
    if (k === "$ref" && typeof v === "string") out["$ref"] = `#/definitions/${v}`;
    else if (k === "properties") out[k] = Object.fromEntries(Object.entries(v as Json).map(([p, ps]) => [p, convert(ps)]));
    else out[k] = convert(v);
  }
  if ((o["format"] === "int64" || o["format"] === "uint64") && o["type"] === "string") {
    out["pattern"] = o["format"] === "int64" ? "^-?[0-9]+$" : "^[0-9]+$";
    delete out["format"];
  }
  if (typeof out["format"] === "string") delete out["format"];
  // Draft 3's "any" type: no constraint.
  if (out["type"] === "any") delete out["type"];
  if (out["properties"] && out["additionalProperties"] === undefined) out["additionalProperties"] = false;
  return out;
}

const GOOGLE_ERROR = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "integer" }, message: { type: "string" }, status: { type: "string" }, errors: { type: "array", items: { type: "object", properties: { reason: { type: "string" }, domain: { type: "string" }, message: { type: "string" } } } }, details: { type: "array" } },
    },
  },
};

export class DiscoveryDoc {
  readonly methods: Method[] = [];
  readonly #globals: Record<string, Param>;
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor(doc: Json) {
    const servicePath = String(doc["servicePath"] ?? "");
    this.#globals = (doc["parameters"] ?? {}) as Record<string, Param>;
    for (const res of Object.values((doc["resources"] ?? {}) as Record<string, { methods?: Record<string, Json> }>)) {
      for (const m of Object.values(res.methods ?? {})) {
        const path = `/${servicePath}${String(m["path"])}`;
        const pathParams: string[] = [];
        const rx = path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{\+?([^}]+)\}/g, (_, n: string) => {
          pathParams.push(n);
          return "([^/]+)";
        });
        this.methods.push({
          id: String(m["id"]),
          httpMethod: String(m["httpMethod"]),
          pattern: new RegExp(`^${rx}$`),
          pathParams,
          params: (m["parameters"] ?? {}) as Record<string, Param>,
          request: (m["request"] as { $ref?: string } | undefined)?.$ref,
          response: (m["response"] as { $ref?: string } | undefined)?.$ref,
        });
        // A media upload (Cloud Storage's objects.insert) is the same method at its own root-relative path,
        // `uploadType=media|resumable` in the query and the bytes, not the request schema, as the body.
        const upload = (m["mediaUpload"] as { protocols?: { simple?: { path?: string } } } | undefined)?.protocols?.simple?.path;
        if (upload) {
          const up: string[] = [];
          const urx = upload.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{\+?([^}]+)\}/g, (_, n: string) => {
            up.push(n);
            return "([^/]+)";
          });
          const last = this.methods[this.methods.length - 1]!;
          this.methods.push({ ...last, pattern: new RegExp(`^${urx}$`), pathParams: up, request: undefined });
        }
      }
    }
    this.#ajv = new Ajv({ strict: false, allErrors: false });
    this.#ajv.addSchema({ $id: "gce", definitions: convert(doc["schemas"]) as Json });
    this.#ajv.addSchema({ $id: "google-error", ...GOOGLE_ERROR });
  }

  static load(path = GCE_DISCOVERY): DiscoveryDoc {
    return new DiscoveryDoc(JSON.parse(readFileSync(path, "utf8")) as Json);
  }

  #validator(name: string): ValidateFunction {
    let v = this.#compiled.get(name);
    if (!v) {
      v = name === "google-error" ? this.#ajv.getSchema("google-error")! : this.#ajv.compile({ $ref: `gce#/definitions/${name}` });
      this.#compiled.set(name, v);
    }
    return v;
  }

  /** The method a request is for, or undefined. */
  match(httpMethod: string, path: string): { method: Method; path: Record<string, string> } | undefined {
    for (const m of this.methods) {
      if (m.httpMethod !== httpMethod) continue;
      const hit = m.pattern.exec(path);
      if (hit) return { method: m, path: Object.fromEntries(m.pathParams.map((n, i) => [n, decodeURIComponent(hit[i + 1]!)])) };
    }
    return undefined;
  }

  checkRequest(r: { method: string; path: string; query: URLSearchParams; body: unknown }): { method?: Method; violations: string[] } {
    const hit = this.match(r.method, r.path);
    if (!hit) return { violations: [`${r.method} ${r.path}: no method in the discovery document`] };
    const v: string[] = [];
    const where = `${hit.method.id}`;
    const value = (name: string, p: Param, x: string) => {
      if (p.pattern && !new RegExp(`^(?:${p.pattern})$`).test(x)) v.push(`${where}: parameter ${name}=${JSON.stringify(x)} does not match ${p.pattern}`);
      if (p.enum && !p.enum.includes(x)) v.push(`${where}: parameter ${name}=${JSON.stringify(x)} not in ${p.enum.join("|")}`);
      if (p.type === "integer" && !/^-?\d+$/.test(x)) v.push(`${where}: parameter ${name}=${JSON.stringify(x)} is not an integer`);
      if (p.type === "boolean" && x !== "true" && x !== "false") v.push(`${where}: parameter ${name}=${JSON.stringify(x)} is not a boolean`);
    };
    for (const [name, x] of Object.entries(hit.path)) value(name, hit.method.params[name]!, x);
    for (const [name, x] of r.query) {
      const p = hit.method.params[name] ?? this.#globals[name];
      if (p?.location !== "query") v.push(`${where}: unknown query parameter ${name}`);
      else value(name, p, x);
    }
    for (const [name, p] of Object.entries(hit.method.params)) if (p.required && p.location === "query" && !r.query.has(name)) v.push(`${where}: missing required query parameter ${name}`);
    if (hit.method.request) {
      const val = this.#validator(hit.method.request);
      if (r.body === undefined) v.push(`${where}: missing ${hit.method.request} body`);
      else if (!val(r.body)) v.push(`${where}: request body: ${this.#ajv.errorsText(val.errors)}`);
    } else if (r.body !== undefined && r.body !== "") {
      // Quirk: the SDK's REST transport sends the JSON string `""` as the body of a POST that takes none
      // (zoneOperations.wait); GCE ignores it.
      v.push(`${where}: a body where the method takes none: ${JSON.stringify(r.body)}`);
    }
    return { method: hit.method, violations: v };
  }

  checkResponse(m: Method, status: number, body: unknown): string[] {
    if (status >= 200 && status < 300) {
      if (!m.response) return body === undefined || (typeof body === "object" && body !== null && Object.keys(body).length === 0) ? [] : [`${m.id}: a body where the method returns none`];
      const val = this.#validator(m.response);
      return val(body) ? [] : [`${m.id}: ${status} response: ${this.#ajv.errorsText(val.errors)}`];
    }
    const val = this.#validator("google-error");
    return val(body) ? [] : [`${m.id}: ${status} error is not Google's envelope: ${this.#ajv.errorsText(val.errors)}`];
  }
}

/**
 * An `onExchange` hook for the emulator that checks every request and reply. HTML error pages, hangs and
 * lost answers are injected faults and carry no JSON to check; the emulator's own `/__emulator/` routes
 * are not GCE's.
 */
export function discoveryChecker(doc: DiscoveryDoc = DiscoveryDoc.load()): { onExchange(req: EmuRequest, reply: EmuReply): void; violations: string[]; exercised: Set<string> } {
  const violations: string[] = [];
  const exercised = new Set<string>();
  return {
    violations,
    exercised,
    onExchange(req, reply) {
      if (req.path.startsWith("/__emulator/")) return;
      const { method, violations: v } = doc.checkRequest(req);
      violations.push(...v);
      if (!method) return;
      exercised.add(method.id);
      if (!("status" in reply) || reply.text !== undefined) return;
      if (reply.status === 401) return void violations.push(...doc.checkResponse(method, reply.status, reply.body));
      violations.push(...doc.checkResponse(method, reply.status, reply.body));
    },
  };
}

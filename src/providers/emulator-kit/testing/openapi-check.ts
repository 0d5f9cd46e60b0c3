/**
 * (Lives in a testing/ folder under src so src tests can import it; the build skips testing/ folders.)
 *
 * Validates an API's traffic against the provider's own OpenAPI description (3.0, 3.1 or 3.2), so neither
 * Kiln's client nor its emulator can drift into a private dialect. Ajv's draft 2020-12 mode is the
 * dialect OpenAPI 3.1 uses; a 3.0 document's `nullable: true` is rewritten to a `"null"` type first. The
 * path/method matcher is ours (literal segments win over `{id}`).
 *
 * Use {@link specCheckedFetch} as the client's `fetch` in tests: it checks every request (path, method,
 * auth header, JSON body) and every response (status documented, body matches that status's schema),
 * and records violations plus which operations were exercised.
 *
 * @example
 *   const spec = new OpenApiSpec(JSON.parse(readFileSync(SPEC, "utf8")), { id: "runpod-v2", auth: /^Bearer \S+$/, undocumentedError: problemSchema });
 *   const check = specCheckedFetch(spec);
 *   const client = new RunpodClient({ fetch: check.fetch, … });
 *   …; expect(check.violations).toEqual([]);
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";

const METHODS = ["get", "post", "put", "patch", "delete"] as const;
type Json = Record<string, unknown>;
const ptr = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");
// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

export interface SpecOperation {
  id: string;
  method: string;
  template: string;
  pattern: RegExp;
  literalSegments: number;
  /** Whether the operation needs no credentials (`security: []`). */
  anonymous: boolean;
  /** Compiled on first use: compiling every operation up front costs seconds on a busy 2-core box. */
  request: (() => ValidateFunction) | undefined;
  /** `requestBody.required`: a body may be left out unless the document requires it. */
  bodyRequired: boolean;
  responses: Map<string, (() => ValidateFunction) | undefined>;
}

export interface OpenApiSpecOptions {
  /** An id for the document inside Ajv. */
  id: string;
  /** A path prefix the client's URLs carry and the document's paths do not (e.g. "/api/v1"). */
  pathPrefix?: string;
  /** What a credentialed request's Authorization header must look like; absent: not checked. */
  auth?: RegExp;
  /** The header carrying the credential when it is not Authorization (e.g. "x-api-key"). */
  authHeader?: string;
  /** The schema a status the document does not list (429, 5xx) must still match; absent: such statuses are violations. */
  undocumentedError?: Json;
  /** Which undocumented statuses may carry that envelope: 429 and 5xx (default), or every error status. */
  undocumentedStatuses?: "429-and-5xx" | "all-errors";
  /** Extra string formats the document uses. */
  formats?: Record<string, RegExp | true>;
}

export class OpenApiSpec {
  readonly operations: SpecOperation[] = [];
  readonly #undocumentedError: ValidateFunction | undefined;

  constructor(
    doc: Json,
    private readonly o: OpenApiSpecOptions,
  ) {
    const version = String(doc["openapi"] ?? "");
    const spec = version.startsWith("3.0") ? (nullableToTypes(doc) as Json) : doc;
    const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
    addFormats(ajv);
    for (const [name, f] of Object.entries(o.formats ?? {})) ajv.addFormat(name, f);
    ajv.addSchema({ ...spec, $id: o.id });
    this.#undocumentedError = o.undocumentedError ? ajv.compile(o.undocumentedError) : undefined;
    const globalSecurity = spec["security"] as unknown[] | undefined;
    const paths = spec["paths"] as Record<string, Record<string, Json>>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const base = `${o.id}#/paths/${ptr(template)}/${method}`;
        const requestBody = op["requestBody"] as Json | undefined;
        const body = requestBody?.["content"] as Json | undefined;
        const lazy = (ref: string) => {
          let v: ValidateFunction | undefined;
          return () => (v ??= ajv.compile({ $ref: ref }));
        };
        const responses = new Map<string, (() => ValidateFunction) | undefined>();
        for (const [status, r] of Object.entries((op["responses"] as Record<string, Json> | undefined) ?? {})) {
          const hasJson = (r["content"] as Json | undefined)?.["application/json"] !== undefined;
          responses.set(status, hasJson ? lazy(`${base}/responses/${ptr(status)}/content/application~1json/schema`) : undefined);
        }
        const segments = template.split("/").filter(Boolean);
        const security = (op["security"] as unknown[] | undefined) ?? globalSecurity;
        this.operations.push({
          id: String(op["operationId"] ?? `${method.toUpperCase()} ${template}`),
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${segments.map((s) => (s.startsWith("{") ? "/[^/]+" : `/${s.replace(/[-.]/g, "\\$&")}`)).join("")}/?$`),
          literalSegments: segments.filter((s) => !s.startsWith("{")).length,
          anonymous: Array.isArray(security) && security.length === 0,
          request: body?.["application/json"] ? lazy(`${base}/requestBody/content/application~1json/schema`) : undefined,
          bodyRequired: requestBody?.["required"] === true,
          responses,
        });
      }
    }
  }

  #strip(path: string): string {
    const p = this.o.pathPrefix;
    return p && path.startsWith(p) ? path.slice(p.length) || "/" : path;
  }

  /** The operation for a method and URL path, preferring literal segments (`/instances/create` over `/instances/{id}`). */
  match(method: string, path: string): SpecOperation | undefined {
    const p = this.#strip(path);
    return this.operations
      .filter((op) => op.method === method.toUpperCase() && op.pattern.test(p))
      .sort((a, b) => b.literalSegments - a.literalSegments)[0];
  }

  validateRequest(method: string, path: string, headers: Headers, body: unknown): string[] {
    const op = this.match(method, path);
    if (!op) return [`${method} ${path}: no such operation in the spec`];
    const problems: string[] = [];
    if (this.o.auth && !op.anonymous && !this.o.auth.test(headers.get(this.o.authHeader ?? "authorization") ?? "")) problems.push(`${op.id}: request lacks the credential header`);
    if (op.request) {
      const validate = op.request();
      if (body === undefined) {
        if (op.bodyRequired) problems.push(`${op.id}: request body missing`);
      }
      else if (!validate(body)) problems.push(`${op.id} request: ${formatErrors(validate)}`);
    } else if (body !== undefined) problems.push(`${op.id}: the spec defines no request body`);
    return problems;
  }

  validateResponse(method: string, path: string, status: number, body: unknown): string[] {
    const op = this.match(method, path);
    if (!op) return [`${method} ${path}: no such operation in the spec`];
    const key = op.responses.has(String(status)) ? String(status) : op.responses.has(`${String(status)[0]}XX`) ? `${String(status)[0]}XX` : op.responses.has("default") && status >= 400 ? "default" : undefined;
    if (key !== undefined) {
      const documented = op.responses.get(key)?.();
      return !documented || documented(body) ? [] : [`${op.id} ${status} response: ${formatErrors(documented)}`];
    }
    const allowed = (this.o.undocumentedStatuses ?? "429-and-5xx") === "all-errors" ? status >= 400 : status === 429 || status >= 500;
    if (this.#undocumentedError && allowed) return this.#undocumentedError(body) ? [] : [`${op.id} ${status}: not the provider's error envelope: ${formatErrors(this.#undocumentedError)}`];
    return [`${op.id}: status ${status} is not documented by the spec`];
  }
}

/** OpenAPI 3.0's `nullable: true` as JSON Schema: `type: X` becomes `type: [X, "null"]` (deep copy). */
export function nullableToTypes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(nullableToTypes);
  if (v === null || typeof v !== "object") return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v as Json)) if (k !== "nullable") out[k] = nullableToTypes(x);
  const o = v as Json;
  if (o["nullable"] === true) {
    if (typeof o["type"] === "string") out["type"] = [o["type"], "null"];
    else if (Array.isArray(out["enum"])) out["enum"] = [...(out["enum"] as unknown[]), null];
    else if (o["type"] === undefined) return { anyOf: [out, { type: "null" }] };
  }
  return out;
}

function formatErrors(v: ValidateFunction): string {
  return (v.errors ?? [])
    .slice(0, 4)
    .map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""}`)
    .join("; ");
}

export interface SpecCheck {
  fetch: typeof fetch;
  /** Every mismatch seen so far; tests end with `expect(check.violations).toEqual([])`. */
  violations: string[];
  /** operationIds exercised, with the statuses seen. */
  seen: Map<string, Set<number>>;
}

/**
 * Wrap `fetch` so each request and response is validated against `spec`; the response handed back is a
 * fresh copy, so the caller reads the body as usual. Non-JSON responses (an HTML error page) are recorded
 * as violations only when `expectJson` says the API always answers JSON (default true).
 */
export function specCheckedFetch(spec: OpenApiSpec, inner: typeof fetch = globalThis.fetch, o: { expectJson?: boolean } = {}): SpecCheck {
  const check: SpecCheck = { fetch: undefined as unknown as typeof fetch, violations: [], seen: new Map() };
  check.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers);
    const body = typeof init?.body === "string" && init.body.length > 0 ? (JSON.parse(init.body) as unknown) : undefined;
    check.violations.push(...spec.validateRequest(method, url.pathname, headers, body));
    const res = await inner(input, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      if (o.expectJson ?? true) check.violations.push(`${method} ${url.pathname} ${res.status}: response is not JSON`);
    }
    if (json !== undefined) check.violations.push(...spec.validateResponse(method, url.pathname, res.status, json));
    const op = spec.match(method, url.pathname);
    if (op) {
      const statuses = check.seen.get(op.id) ?? new Set<number>();
      statuses.add(res.status);
      check.seen.set(op.id, statuses);
    }
    return new Response(text.length > 0 ? text : null, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return check;
}

/**
 * (Lives in a testing/ folder under src so src tests can import it within tsconfig's rootDir; the build skips
 * testing/ folders, and test/helpers/openapi.ts re-exports it.)
 *
 * Validates Lambda API traffic against Lambda's own OpenAPI 3.1 spec (1.8.3), so neither the client
 * nor the emulator can drift into a private dialect. Ajv's draft 2020-12 mode is the dialect
 * OpenAPI 3.1 uses; the path/method matcher is ours (literal segments win over `{id}`).
 *
 * Use {@link specCheckedFetch} as the client's `fetch` in tests: it checks every request (path,
 * method, auth header, JSON body) and every response (status documented, body matches that status's
 * schema), and records violations plus which operations were exercised.
 *
 * Statuses the spec does not document for an operation (429 and 5xx: Lambda sends them but the spec
 * is silent) must still be the generic `{"error": {code, message, suggestion?}}` envelope.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { LambdaClient, type LambdaClientOptions } from "../client.js";

const SPEC_PATH = join(import.meta.dirname, "..", "openapi", "lambda-cloud-openapi-1.8.3.json");
const SPEC_ID = "lambda-openapi";
const METHODS = ["get", "post", "put", "patch", "delete"] as const;

interface Operation {
  id: string;
  method: string;
  template: string;
  pattern: RegExp;
  literalSegments: number;
  /** Compiled on first use: compiling all ~25 operations up front costs seconds on a busy 2-core box. */
  request: (() => ValidateFunction) | undefined;
  responses: Map<string, (() => ValidateFunction) | undefined>;
}

type Json = Record<string, unknown>;
const ptr = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => void;

const genericError = {
  type: "object",
  additionalProperties: false,
  required: ["error"],
  properties: {
    error: {
      type: "object",
      additionalProperties: false,
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" }, suggestion: { type: "string" } },
    },
  },
};

export class LambdaSpec {
  readonly operations: Operation[] = [];
  readonly #genericError: ValidateFunction;

  constructor() {
    const spec = JSON.parse(readFileSync(SPEC_PATH, "utf8")) as Json;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    // Lambda's own format: an IPv4 address with an optional /prefix ("1.2.3.4" means /32).
    ajv.addFormat("ipv4network", /^(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?$/);
    ajv.addFormat("password", true);
    ajv.addSchema({ ...spec, $id: SPEC_ID });
    this.#genericError = ajv.compile(genericError);
    const paths = spec["paths"] as Record<string, Record<string, Json>>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const base = `${SPEC_ID}#/paths/${ptr(template)}/${method}`;
        const body = (op["requestBody"] as Json | undefined)?.["content"] as Json | undefined;
        const lazy = (ref: string) => {
          let v: ValidateFunction | undefined;
          return () => (v ??= ajv.compile({ $ref: ref }));
        };
        const responses = new Map<string, (() => ValidateFunction) | undefined>();
        for (const [status, r] of Object.entries(op["responses"] as Record<string, Json>)) {
          const hasJson = (r["content"] as Json | undefined)?.["application/json"] !== undefined;
          responses.set(status, hasJson ? lazy(`${base}/responses/${status}/content/application~1json/schema`) : undefined);
        }
        const segments = template.split("/").filter(Boolean);
        this.operations.push({
          id: String(op["operationId"]),
          method: method.toUpperCase(),
          template,
          pattern: new RegExp(`^${segments.map((s) => (s.startsWith("{") ? "/[^/]+" : `/${s.replace(/[-]/g, "\\-")}`)).join("")}$`),
          literalSegments: segments.filter((s) => !s.startsWith("{")).length,
          request: body?.["application/json"] ? lazy(`${base}/requestBody/content/application~1json/schema`) : undefined,
          responses,
        });
      }
    }
  }

  /** The operation for a method and URL path, preferring literal segments (`/firewall-rulesets/global`). */
  match(method: string, path: string): Operation | undefined {
    return this.operations
      .filter((o) => o.method === method.toUpperCase() && o.pattern.test(path))
      .sort((a, b) => b.literalSegments - a.literalSegments)[0];
  }

  validateRequest(method: string, path: string, headers: Headers, body: unknown): string[] {
    const op = this.match(method, path);
    if (!op) return [`${method} ${path}: no such operation in the spec`];
    const problems: string[] = [];
    const auth = headers.get("authorization") ?? "";
    if (!/^(Bearer|Basic) \S+$/.test(auth)) problems.push(`${op.id}: request lacks Bearer/Basic authorization`);
    if (op.request) {
      const validate = op.request();
      if (body === undefined) problems.push(`${op.id}: request body missing`);
      else if (!validate(body)) problems.push(`${op.id} request: ${formatErrors(validate)}`);
    } else if (body !== undefined) problems.push(`${op.id}: the spec defines no request body`);
    return problems;
  }

  validateResponse(method: string, path: string, status: number, body: unknown): string[] {
    const op = this.match(method, path);
    if (!op) return [`${method} ${path}: no such operation in the spec`];
    const documented = op.responses.get(String(status))?.();
    if (documented) return documented(body) ? [] : [`${op.id} ${status} response: ${formatErrors(documented)}`];
    if (op.responses.has(String(status))) return [];
    if (status === 429 || status >= 500) return this.#genericError(body) ? [] : [`${op.id} ${status}: not an error envelope: ${formatErrors(this.#genericError)}`];
    return [`${op.id}: status ${status} is not documented by the spec`];
  }
}

function formatErrors(v: ValidateFunction): string {
  return (v.errors ?? [])
    .slice(0, 4)
    .map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""}`)
    .join("; ");
}

let shared: LambdaSpec | undefined;
/** One parsed spec per test file; operations compile lazily. */
export function lambdaSpec(): LambdaSpec {
  shared ??= new LambdaSpec();
  return shared;
}

export interface SpecCheck {
  fetch: typeof fetch;
  /** Every mismatch seen so far; tests end with `expect(check.violations).toEqual([])`. */
  violations: string[];
  /** operationIds exercised, with the statuses seen. */
  seen: Map<string, Set<number>>;
}

/**
 * Wrap `fetch` so each request and response is validated against the spec; the response handed back
 * is a fresh copy, so the caller reads the body as usual.
 */
export function specCheckedFetch(inner: typeof fetch = globalThis.fetch): SpecCheck {
  const spec = lambdaSpec();
  const check: SpecCheck = { fetch: undefined as unknown as typeof fetch, violations: [], seen: new Map() };
  check.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers);
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
    check.violations.push(...spec.validateRequest(method, url.pathname, headers, body));
    const res = await inner(input, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      check.violations.push(`${method} ${url.pathname} ${res.status}: response is not JSON`);
    }
    if (json !== undefined) check.violations.push(...spec.validateResponse(method, url.pathname, res.status, json));
    const op = spec.match(method, url.pathname);
    if (op) {
      const statuses = check.seen.get(op.id) ?? new Set<number>();
      statuses.add(res.status);
      check.seen.set(op.id, statuses);
    }
    return new Response(text, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return check;
}

/**
 * A client for `emu` whose every request and response is checked against the spec, with the
 * client-side pacing turned off (the emulator's own rate limit is off by default too) so tests are fast.
 */
export function checkedLambdaClient(emu: { url: string; apiKey: string }, opts: Partial<LambdaClientOptions> = {}): { client: LambdaClient; check: SpecCheck } {
  const check = specCheckedFetch(opts.fetch);
  const client = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0, backoffBaseMs: 5, backoffMaxMs: 20, requestTimeoutMs: 5_000, ...opts, fetch: check.fetch });
  return { client, check };
}

/**
 * (Lives in a testing/ folder under src so tests can import it; the build skips testing/ folders.)
 *
 * RunPod's traffic checked against RunPod's own descriptions: REST v2 against api-reference-v2/openapi.json
 * (through the kit's OpenApiSpec, plus the problem+json bodies, which the kit does not read: every error answer
 * must be an RFC 9457 `ErrorResponse` sent as `application/problem+json`), and GraphQL against the subset
 * schema in ./graphql-subset.ts (documents, variables and answers).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { OpenApiSpec, type SpecCheck, specCheckedFetch } from "../../emulator-kit/testing/openapi-check.js";
import { RunpodClient, type RunpodClientOptions } from "../client.js";
import { checkGraphqlExchange } from "./graphql-subset.js";

export const RUNPOD_V2_SPEC = join(import.meta.dirname, "..", "openapi", "runpod-rest-v2-2.0.0.json");

let cached: { spec: OpenApiSpec; problem: (body: unknown) => boolean } | undefined;
function v2() {
  if (cached) return cached;
  const doc = JSON.parse(readFileSync(RUNPOD_V2_SPEC, "utf8")) as { components: { schemas: Record<string, unknown> } };
  const problemSchema = doc.components.schemas["ErrorResponse"] as Record<string, unknown>;
  const spec = new OpenApiSpec(doc, { id: "runpod-v2", auth: /^Bearer \S+$/, undocumentedError: problemSchema });
  const validate = new Ajv2020({ strict: false }).compile(problemSchema);
  cached = { spec, problem: (b) => validate(b) };
  return cached;
}

/** A fetch that checks every exchange: REST v2 against the OpenAPI document, `/graphql` against the subset schema. */
export function runpodCheckedFetch(inner: typeof fetch = globalThis.fetch): SpecCheck {
  const { spec, problem } = v2();
  const rest = specCheckedFetch(spec, inner);
  const check: SpecCheck = { fetch: undefined as unknown as typeof fetch, violations: rest.violations, seen: rest.seen };
  check.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? "GET").toUpperCase();
    if (url.pathname === "/graphql") {
      const res = await inner(input, init);
      const text = await res.text();
      const request = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
      const problems = checkGraphqlExchange(request, res.status, text);
      check.violations.push(...problems.map((p) => `POST /graphql: ${p}`));
      const op = /^(?:query|mutation)\s+(\w+)/.exec(String((request as { query?: unknown } | undefined)?.query ?? ""))?.[1] ?? "graphql";
      const seen = check.seen.get(`graphql ${op}`) ?? new Set<number>();
      seen.add(res.status);
      check.seen.set(`graphql ${op}`, seen);
      return new Response(text.length > 0 ? text : null, { status: res.status, headers: res.headers });
    }
    const res = await rest.fetch(input, init);
    if (res.status >= 400) {
      const type = res.headers.get("content-type") ?? "";
      const text = await res.clone().text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (!type.startsWith("application/problem+json")) check.violations.push(`${method} ${url.pathname} ${res.status}: content type ${type || "none"}, not application/problem+json`);
      if (body !== undefined && !problem(body)) check.violations.push(`${method} ${url.pathname} ${res.status}: not an ErrorResponse`);
    }
    return res;
  };
  return check;
}

/** A client whose traffic is checked, for tests against the emulator. */
export function checkedRunpodClient(emu: { url: string; apiKey: string }, o: Partial<RunpodClientOptions> = {}): { client: RunpodClient; check: SpecCheck } {
  const check = runpodCheckedFetch();
  const client = new RunpodClient({ apiKey: emu.apiKey, baseUrl: emu.url, fetch: check.fetch, minIntervalMs: 0, backoffBaseMs: 10, backoffMaxMs: 50, ...o });
  return { client, check };
}

/**
 * (Test tooling; the build skips testing/ folders.) Thunder's traffic checked against Thunder's own OpenAPI
 * 3.1 document (`../shared/reference/specs/thundercompute/swagger.json`, copied here as openapi/swagger.json).
 *
 * Two adjustments to the kit's reading of this document, both the document's own semantics:
 * - `/pricing`, `/specs` and `/thunder-templates` have no `security` and the document has no global one, so
 *   they need no credential (the kit only treats `security: []` as anonymous);
 * - a `requestBody` without `required: true` may be absent (list's GET and delete's POST declare an optional
 *   `{type: object}` body; a GET cannot carry one).
 * And one repair: create's body is `oneOf [{type: object}, InstanceCreateRequest]` (a swaggo artefact). Every
 * valid InstanceCreateRequest is also an object, so it matches *both* branches and strict `oneOf` rejects every
 * correct body — no request could conform. Create bodies are checked against `InstanceCreateRequest` itself
 * instead (stricter: unknown fields rejected), and the impossible `oneOf` finding is dropped.
 * 429 and 5xx the document does not list must still be the `ErrorResponse` envelope.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { OpenApiSpec, type SpecCheck, specCheckedFetch } from "../../emulator-kit/testing/openapi-check.js";
import { ThunderClient, type ThunderClientOptions } from "../client.js";

export type { SpecCheck } from "../../emulator-kit/testing/openapi-check.js";

export const SPEC_PATH = join(import.meta.dirname, "..", "openapi", "swagger.json");
type Json = Record<string, unknown>;

const errorResponse = { type: "object", properties: { code: { type: "integer" }, error: { type: "string" }, message: { type: "string" } } };

export class ThunderSpec extends OpenApiSpec {
  readonly #optionalBody = new Set<string>();
  readonly #createBody: ValidateFunction;

  constructor() {
    const doc = JSON.parse(readFileSync(SPEC_PATH, "utf8")) as Json;
    super(doc, { id: "thunder-openapi", pathPrefix: "/v1", auth: /^Bearer \S+$/, undocumentedError: errorResponse });
    const paths = doc["paths"] as Record<string, Record<string, Json>>;
    for (const op of this.operations) {
      const raw = paths[op.template]?.[op.method.toLowerCase()];
      if (raw && raw["security"] === undefined) op.anonymous = true;
      const body = raw?.["requestBody"] as Json | undefined;
      if (body && body["required"] !== true) this.#optionalBody.add(`${op.method} ${op.template}`);
    }
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: "thunder-create" });
    this.#createBody = ajv.compile({ $ref: "thunder-create#/components/schemas/thundertypes.InstanceCreateRequest", unevaluatedProperties: false });
  }

  override validateRequest(method: string, path: string, headers: Headers, body: unknown): string[] {
    const op = this.match(method, path);
    let problems = super.validateRequest(method, path, headers, body);
    if (op && body === undefined && this.#optionalBody.has(`${op.method} ${op.template}`)) problems = problems.filter((p) => !p.endsWith("request body missing"));
    if (op?.template === "/instances/create") problems = problems.filter((p) => !p.endsWith("must match exactly one schema in oneOf"));
    if (op?.template === "/instances/create" && body !== undefined && !this.#createBody(body)) {
      problems.push(`create request is not an InstanceCreateRequest: ${(this.#createBody.errors ?? []).map((e) => `${e.instancePath || "(root)"} ${e.message ?? ""}`).join("; ")}`);
    }
    return problems;
  }
}

let shared: ThunderSpec | undefined;
export const thunderSpec = (): ThunderSpec => (shared ??= new ThunderSpec());

/** A client for `emu` whose every request and response is checked against the spec; pacing off, quick backoff. */
export function checkedThunderClient(emu: { url: string; token: string }, opts: Partial<ThunderClientOptions> = {}): { client: ThunderClient; check: SpecCheck } {
  const check = specCheckedFetch(thunderSpec(), opts.fetch);
  const client = new ThunderClient({ token: emu.token, baseUrl: emu.url, minIntervalMs: 0, backoffBaseMs: 5, backoffMaxMs: 20, requestTimeoutMs: 5_000, ...opts, fetch: check.fetch });
  return { client, check };
}

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
import { OpenApiSpec, type SpecCheck, specCheckedFetch as checkAgainst } from "../../emulator-kit/testing/openapi-check.js";
import { LambdaClient, type LambdaClientOptions } from "../client.js";

export type { SpecCheck } from "../../emulator-kit/testing/openapi-check.js";

const SPEC_PATH = join(import.meta.dirname, "..", "openapi", "lambda-cloud-openapi-1.8.3.json");
const SPEC_ID = "lambda-openapi";

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

/** Lambda's spec: every operation needs Bearer/Basic auth; 429 and 5xx (undocumented) use the generic envelope. */
export class LambdaSpec extends OpenApiSpec {
  constructor() {
    super(JSON.parse(readFileSync(SPEC_PATH, "utf8")) as Record<string, unknown>, {
      id: SPEC_ID,
      auth: /^(Bearer|Basic) \S+$/,
      undocumentedError: genericError,
      // Lambda's own format: an IPv4 address with an optional /prefix ("1.2.3.4" means /32).
      formats: { ipv4network: /^(\d{1,3}\.){3}\d{1,3}(\/\d{1,2})?$/, password: true },
    });
  }
}

let shared: LambdaSpec | undefined;
/** One parsed spec per test file; operations compile lazily. */
export function lambdaSpec(): LambdaSpec {
  shared ??= new LambdaSpec();
  return shared;
}

/**
 * Wrap `fetch` so each request and response is validated against Lambda's spec; the response handed
 * back is a fresh copy, so the caller reads the body as usual.
 */
export function specCheckedFetch(inner: typeof fetch = globalThis.fetch): SpecCheck {
  return checkAgainst(lambdaSpec(), inner);
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

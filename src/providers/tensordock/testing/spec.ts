/**
 * (Lives in a testing/ folder under src so tests can import it; the build skips testing/ folders.)
 *
 * TensorDock's traffic checked against the only machine-readable description there is: API Evangelist's
 * third-party OpenAPI 3.2 document (../openapi/), through the kit's OpenApiSpec, with
 *
 * 1. **Kiln's own schema for `GET /api/v2/locations`**, which the document does not cover, written from
 *    TensorDock's fetch-hostnodes docs page (`{data: {locations: [{id, city, stateprovince, country, tier,
 *    gpus: [{v0Name, displayName, max_count, price_per_hr, resources, pricing, network_features}]}]}}`), added
 *    to the document as an extra path before checking;
 * 2. **one correction where TensorDock's own docs contradict the document**: `Resources.gpus` is an array of
 *    `{gpuV0Name, count}` in the document, but a map `{"<v0Name>": {"count": n}}` on TensorDock's
 *    instance-creation page, which is what Kiln sends. The schema is widened to accept either (nothing else is
 *    loosened);
 * 3. error statuses the document does not list (a 404 on DELETE, a 400 on GET, 5xx) allowed only with the
 *    document's own `ErrorResponse` envelope (the kit's `undocumentedError`, all error statuses).
 *
 * Everything else — paths, methods, the bearer header, every documented status and body — is the document's.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { OpenApiSpec, type SpecCheck, specCheckedFetch } from "../../emulator-kit/testing/openapi-check.js";
import { TensordockClient, type TensordockClientOptions } from "../client.js";

export const TENSORDOCK_SPEC = join(import.meta.dirname, "..", "openapi", "tensordock-instances-api-openapi.yml");

type Json = Record<string, unknown>;

/** Kiln's schema of `GET /locations`, from the fetch-hostnodes page (every field the page shows, typed). */
export const LOCATIONS_RESPONSE_SCHEMA: Json = {
  type: "object",
  required: ["data"],
  properties: {
    data: {
      type: "object",
      required: ["locations"],
      properties: {
        locations: {
          type: "array",
          items: {
            type: "object",
            required: ["id", "gpus"],
            properties: {
              id: { type: "string" },
              city: { type: "string" },
              stateprovince: { type: "string" },
              country: { type: "string" },
              tier: { type: "integer" },
              gpus: {
                type: "array",
                items: {
                  type: "object",
                  required: ["v0Name", "max_count", "price_per_hr", "resources"],
                  properties: {
                    v0Name: { type: "string" },
                    displayName: { type: "string" },
                    max_count: { type: "integer", minimum: 0 },
                    price_per_hr: { type: "number", minimum: 0 },
                    resources: {
                      type: "object",
                      required: ["max_vcpus", "max_ram_gb", "max_storage_gb"],
                      properties: { max_vcpus: { type: "integer" }, max_ram_gb: { type: "number" }, max_storage_gb: { type: "number" } },
                    },
                    pricing: {
                      type: "object",
                      properties: { per_vcpu_hr: { type: "number" }, per_gb_ram_hr: { type: "number" }, per_gb_storage_hr: { type: "number" } },
                    },
                    network_features: {
                      type: "object",
                      properties: { dedicated_ip_available: { type: "boolean" }, port_forwarding_available: { type: "boolean" }, network_storage_available: { type: "boolean" } },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** The document as Kiln checks against it (see the header for each change). */
export function tensordockSpecDocument(): Json {
  const doc = parse(readFileSync(TENSORDOCK_SPEC, "utf8")) as Json;
  const components = doc["components"] as { schemas: Record<string, Json> };
  const resources = components.schemas["Resources"] as { properties: Record<string, Json> };
  const arrayForm = resources.properties["gpus"] as Json;
  resources.properties["gpus"] = {
    anyOf: [arrayForm, { type: "object", minProperties: 1, additionalProperties: { type: "object", required: ["count"], properties: { count: { type: "integer", minimum: 1 } } } }],
  };
  components.schemas["LocationsResponse"] = LOCATIONS_RESPONSE_SCHEMA;
  (doc["paths"] as Record<string, Json>)["/api/v2/locations"] = {
    get: {
      operationId: "listLocations",
      summary: "List Available Locations (Kiln's schema, from TensorDock's fetch-hostnodes page)",
      responses: {
        "200": { description: "Locations with their GPU offerings.", content: { "application/json": { schema: { $ref: "#/components/schemas/LocationsResponse" } } } },
        "401": { $ref: "#/components/responses/Unauthorized" },
        "429": { $ref: "#/components/responses/RateLimited" },
      },
    },
  };
  return doc;
}

let cached: OpenApiSpec | undefined;
export function tensordockSpec(): OpenApiSpec {
  if (cached) return cached;
  const doc = tensordockSpecDocument();
  const errorResponse = (doc["components"] as { schemas: Record<string, Json> }).schemas["ErrorResponse"] as Json;
  cached = new OpenApiSpec(doc, { id: "tensordock-v2", auth: /^Bearer \S+$/, undocumentedError: { ...errorResponse, required: ["errors"] }, undocumentedStatuses: "all-errors" });
  return cached;
}

/** A fetch that checks every exchange against the (corrected, extended) document. */
export function tensordockCheckedFetch(inner: typeof fetch = globalThis.fetch, o: { expectJson?: boolean } = {}): SpecCheck {
  return specCheckedFetch(tensordockSpec(), inner, o);
}

/** A client whose traffic is checked, for tests against the emulator. */
export function checkedTensordockClient(emu: { apiUrl: string; apiToken: string }, o: Partial<TensordockClientOptions> = {}, checkOptions: { expectJson?: boolean } = {}): { client: TensordockClient; check: SpecCheck } {
  const check = tensordockCheckedFetch(globalThis.fetch, checkOptions);
  const client = new TensordockClient({ apiToken: emu.apiToken, baseUrl: emu.apiUrl, fetch: check.fetch, minIntervalMs: 0, backoffBaseMs: 10, backoffMaxMs: 50, ...o });
  return { client, check };
}

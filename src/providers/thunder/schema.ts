/**
 * Zod schemas for the Thunder Compute API answers Kiln reads (OpenAPI 3.1, `specs/thundercompute/swagger.json`,
 * which may lag the live API). Lenient about extra fields (Thunder adding one must never break Kiln), strict
 * about the fields Kiln uses: a missing or mistyped one is a ProviderError naming the field (see
 * {@link parseThunder}), never a crash deeper in the lifecycle.
 *
 * Quirks recorded here because this is where they bite:
 * - `GET /instances/list` is a **map keyed by instance id**, not an array; the item's own `id` is "Populated
 *   from map key by client" (spec), so Kiln fills it from the key.
 * - `numGpus`, `cpuCores` and `memory` are **strings** in the listing (integers in create's request).
 * - `status` is an untyped string: a value Kiln does not know maps to "unknown", never a parse failure.
 */
import { z } from "zod";
import { ProviderError } from "../provider.js";

export const THUNDER_MODES = ["prototyping", "production"] as const;
export type ThunderMode = (typeof THUNDER_MODES)[number];

/** `InstanceCreateRequest`: every field but `public_key` is required by the spec. */
export interface ThunderCreateBody {
  cpu_cores: number;
  disk_size_gb: number;
  gpu_type: string;
  mode: ThunderMode;
  num_gpus: number;
  template: string;
  public_key?: string;
}

/** `InstanceCreateResponse`: all three required. `key` may be a generated *private* key: never logged or kept. */
export const createResponseSchema = z.object({ uuid: z.string().min(1), key: z.string(), identifier: z.number().int() });

/** A count the listing sends as a string ("1"); undefined when absent or not a number. */
const countString = z
  .string()
  .optional()
  .transform((s) => (s === undefined || !/^\d+$/.test(s.trim()) ? undefined : Number(s.trim())));

export const listItemSchema = z.object({
  uuid: z.string().min(1),
  // Thunder's own generated name (the console shows it); create takes none, so it can never carry kiln-….
  name: z.string().optional(),
  status: z.string(),
  ip: z.string().nullish(),
  port: z.number().int().nullish(),
  createdAt: z.string().optional(),
  gpuType: z.string().optional(),
  numGpus: countString,
  cpuCores: countString,
  mode: z.string().optional(),
  template: z.string().optional(),
  sshPublicKeys: z.array(z.string()).nullish(),
});
export type ThunderListItem = z.infer<typeof listItemSchema> & { id: string };

export const listResponseSchema = z.record(z.string(), listItemSchema);

export const deleteResponseSchema = z.object({ message: z.string().optional() });

/** `GET /pricing`: `{pricing: {<key>: USD per hour}}`; the key format is not documented (see offers.ts). */
export const pricingResponseSchema = z.object({ pricing: z.record(z.string(), z.number()) });
export type ThunderPricing = z.infer<typeof pricingResponseSchema>["pricing"];

export const specConfigSchema = z.object({
  displayName: z.string(),
  vramGB: z.number().int(),
  gpuCount: z.number().int(),
  mode: z.string().optional(),
  vcpuOptions: z.array(z.number().int()).optional(),
  ramPerVCPUGiB: z.number().int().optional(),
  storageGB: z.object({ min: z.number().int().optional(), max: z.number().int().optional() }).optional(),
});
export type ThunderSpecConfig = z.infer<typeof specConfigSchema>;
/** `GET /specs`: `{specs: {<id>: GpuSpecConfig}}`, ids like `h100_x1_production` (third-party fixtures; not in the spec). */
export const specsResponseSchema = z.object({ specs: z.record(z.string(), specConfigSchema) });
export type ThunderSpecs = z.infer<typeof specsResponseSchema>["specs"];

/** `ErrorResponse {code:int, error, message}` — none required; thunder-cli also sees bare `{message}`. */
export const errorEnvelopeSchema = z.object({ code: z.number().int().optional(), error: z.string().optional(), message: z.string().optional() });
export type ThunderApiError = z.infer<typeof errorEnvelopeSchema>;

/** Parse an answer with `schema`, or throw a ProviderError naming Thunder, the call and the first bad field. */
export function parseThunder<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join(".") : "(the body)";
  return fail(what, `field \`${field}\`: ${issue?.message ?? "invalid"}`);
}

function fail(what: string, why: string): never {
  throw new ProviderError("thunder", "fatal", `Thunder ${what} answered something Kiln cannot read: ${why}`, {
    code: "kiln/unexpected-response",
    suggestion: "Thunder's API may have changed or be failing; try again later, or report it if it persists",
  });
}

/** The listing as items with their map key as `id`. */
export function listItems(body: unknown, what = "GET /instances/list"): ThunderListItem[] {
  const map = parseThunder(listResponseSchema, body, what);
  return Object.entries(map).map(([id, item]) => ({ ...item, id }));
}

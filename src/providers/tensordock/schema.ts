/**
 * TensorDock's v2 wire shapes as zod schemas. TensorDock publishes no machine-readable description (the only
 * one is third-party, see openapi/README.md), so these follow TensorDock's own docs pages
 * (dashboard.tensordock.com/api/docs/{instance-creation,instance-management,fetch-hostnodes}), which disagree
 * with the third-party document and, in places, with each other. Where they disagree the schema accepts both
 * forms, and says so. Only the fields Kiln uses are required; the rest pass through, so a field TensorDock
 * adds never breaks a parse, and a field Kiln needs that goes missing fails naming its path.
 */
import { z } from "zod";
import { ProviderError } from "../provider.js";

/** A port number, which the docs print as `"number"`: accepted as a JSON number or a decimal string. */
const port = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

/**
 * `portForwards`: the instance-management page shows `[{internal_port, external_port}]`; the third-party
 * document types it as an object (a map of internal → external port). Both normalise to a list.
 */
const portForwardsSchema = z
  .union([
    z.array(z.looseObject({ internal_port: port, external_port: port })),
    z.record(z.string(), port).transform((m) => Object.entries(m).map(([k, v]) => ({ internal_port: Number(k), external_port: v }))),
  ])
  .nullish()
  .transform((v) => (v ?? []).map((f) => ({ internal: f.internal_port, external: f.external_port })));

/** The fields of one instance, wherever the answer puts them (flat, or under `attributes`). */
const instanceFields = {
  name: z.string(),
  // A status this code does not know is kept as text and mapped to "unknown", never guessed.
  status: z.string().min(1),
  ipAddress: z.string().nullish(),
  portForwards: portForwardsSchema,
  // GUESS(tensordock): `rateHourly` and `location_id` are in the third-party document only; the docs page's
  // example shows neither. Optional, so their absence costs only the live price on describe. Verify with one
  // real GET /instances/{id}.
  rateHourly: z.number().nullish(),
  location_id: z.string().nullish(),
};

/**
 * `GET /instances/{id}`. The instance-management page shows a flat object (`{type, id, name, status,
 * ipAddress, portForwards}`); the third-party document wraps it as `{data: {type, id, attributes: {…}}}` like
 * every other answer. GUESS(tensordock): which one the live API sends is unconfirmed, so both are read.
 */
const flatInstanceSchema = z.looseObject({ id: z.string().min(1), ...instanceFields });
const wrappedInstanceSchema = z.looseObject({ data: z.looseObject({ id: z.string().min(1), attributes: z.looseObject(instanceFields) }) });

export interface TdInstance {
  id: string;
  name: string;
  status: string;
  ipAddress: string | undefined;
  portForwards: { internal: number; external: number }[];
  rateHourly: number | undefined;
  locationId: string | undefined;
}

export function parseInstance(body: unknown, what: string, status?: number): TdInstance {
  const wrapped = typeof body === "object" && body !== null && "data" in body;
  if (wrapped) {
    const { id, attributes: a } = parseTensordock(wrappedInstanceSchema, body, what, status).data;
    return { id, name: a.name, status: a.status, ipAddress: a.ipAddress ?? undefined, portForwards: a.portForwards, rateHourly: a.rateHourly ?? undefined, locationId: a.location_id ?? undefined };
  }
  const i = parseTensordock(flatInstanceSchema, body, what, status);
  return { id: i.id, name: i.name, status: i.status, ipAddress: i.ipAddress ?? undefined, portForwards: i.portForwards, rateHourly: i.rateHourly ?? undefined, locationId: i.location_id ?? undefined };
}

/**
 * `GET /instances`: `{data: {instances: [{type, id, attributes: {name, status}}]}}` (instance-management page).
 * The list carries no address; Kiln reads details per Kiln machine.
 * Quirk: the getting-started page shows another shape (`data.attributes.instances`); the instance-management
 * page's is the one read here. GUESS(tensordock): verify with one real GET /instances.
 */
export const instanceListSchema = z.looseObject({
  data: z.looseObject({
    instances: z.array(z.looseObject({ id: z.string().min(1), attributes: z.looseObject({ name: z.string(), status: z.string().min(1) }) })),
  }),
});

/**
 * `POST /instances` answer: `{data: {type: "virtualmachine", id, name, status}}` (instance-creation page).
 * The id is optional here on purpose: a 2xx without one is an unknown outcome, not a parse failure.
 */
export const createdSchema = z.looseObject({ data: z.looseObject({ id: z.string().min(1).optional() }) });

/** `GET /locations` (fetch-hostnodes page). Kiln's own schema: the third-party document does not cover it. */
export const locationGpuSchema = z.looseObject({
  v0Name: z.string().min(1),
  displayName: z.string().optional(),
  max_count: z.number().int().min(0),
  /** GUESS(tensordock): per GPU per hour, for the GPU alone (vCPU, RAM and disk priced in `pricing`). */
  price_per_hr: z.number(),
  resources: z.looseObject({ max_vcpus: z.number().int().min(0), max_ram_gb: z.number().min(0), max_storage_gb: z.number().min(0) }),
  pricing: z.looseObject({ per_vcpu_hr: z.number().min(0), per_gb_ram_hr: z.number().min(0), per_gb_storage_hr: z.number().min(0) }).optional(),
  network_features: z.looseObject({ dedicated_ip_available: z.boolean(), port_forwarding_available: z.boolean() }).optional(),
});
export type TdLocationGpu = z.infer<typeof locationGpuSchema>;

export const locationSchema = z.looseObject({
  id: z.string().min(1),
  city: z.string().optional(),
  stateprovince: z.string().optional(),
  country: z.string().optional(),
  tier: z.number().optional(),
  gpus: z.array(locationGpuSchema),
});
export type TdLocation = z.infer<typeof locationSchema>;

export const locationsSchema = z.looseObject({ data: z.looseObject({ locations: z.array(locationSchema) }) });

/**
 * Error bodies. GUESS(tensordock): the docs show none; the third-party document says JSON:API
 * `{errors: [{status, title, detail}]}`. Bodies of the forms `{error}`, `{message}` and `{detail}` are read too,
 * so a message is never lost. Verify with one real 400 (e.g. a create with storage_gb 50).
 */
const errorItem = z.looseObject({ status: z.union([z.string(), z.number()]).optional(), title: z.string().optional(), detail: z.string().optional(), code: z.string().optional() });
export const errorBodySchema = z.union([
  z.looseObject({ errors: z.array(errorItem).min(1) }),
  z.looseObject({ error: z.union([z.string(), z.looseObject({ message: z.string() })]) }),
  z.looseObject({ message: z.string() }),
  z.looseObject({ detail: z.string() }),
]);

/** The text of an error body, or undefined when it is none of the known shapes. */
export function errorText(body: unknown): string | undefined {
  const r = errorBodySchema.safeParse(body);
  if (!r.success) return undefined;
  const b = r.data as Record<string, unknown>;
  if (Array.isArray(b["errors"])) {
    return (b["errors"] as z.infer<typeof errorItem>[])
      .map((e) => [e.title, e.detail].filter((x) => x !== undefined && x !== "").join(": "))
      .filter((s) => s !== "")
      .join("; ");
  }
  const err = b["error"];
  if (typeof err === "string") return err;
  if (typeof err === "object" && err !== null) return (err as { message: string }).message;
  return (b["message"] as string | undefined) ?? (b["detail"] as string | undefined);
}

/** Parse a TensorDock answer, or a ProviderError that names the API call and the first bad field. */
export function parseTensordock<T extends z.ZodType>(schema: T, body: unknown, what: string, status?: number): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? issue.path.join(".") : "(the body)";
  throw new ProviderError("tensordock", "fatal", `TensorDock ${what} answered a body Kiln cannot read: ${field}: ${issue?.message ?? "invalid"}`, {
    code: "kiln/unexpected-response",
    ...(status !== undefined && { status }),
    suggestion: "TensorDock's API may have changed (Kiln builds on its docs pages, which have no schema); try again later",
  });
}

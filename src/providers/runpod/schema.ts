/**
 * RunPod's wire shapes, as zod schemas: the REST v2 `Pod`, pod list, GPU catalog and RFC 9457 problem
 * body (api-reference-v2/openapi.json, "Runpod REST API 2.0.0"), and the two GraphQL answers Kiln reads
 * (spot prices, the interruptible rent). Only the fields Kiln uses are required; the rest pass through, so a
 * field RunPod adds never breaks a parse, and a field Kiln needs that goes missing fails with its path.
 */
import { z } from "zod";
import { ProviderError } from "../provider.js";

export const podStatusSchema = z.enum(["PROVISIONING", "STARTING", "RUNNING", "EXITED", "ERROR", "TERMINATED"]);
export type RunpodPodStatus = z.infer<typeof podStatusSchema>;

const sshEndpointSchema = z.looseObject({ host: z.string(), port: z.number().int(), username: z.string() });

export const podSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  // A status this code does not know is kept as text and mapped to "unknown", never guessed.
  status: z.string(),
  env: z.record(z.string(), z.string()),
  gpu: z.looseObject({ id: z.string(), count: z.number().int().optional() }).optional(),
  cloud: z.string(),
  dataCenterId: z.string().nullable(),
  ssh: z.looseObject({ proxy: sshEndpointSchema.nullable(), direct: sshEndpointSchema.nullable() }),
  cost: z.number(),
  createdAt: z.string(),
});
export type RunpodPod = z.infer<typeof podSchema>;

export const listPodsSchema = z.looseObject({ pods: z.array(podSchema) });

export const availabilitySchema = z.enum(["NONE", "LOW", "MEDIUM", "HIGH"]);

export const gpuTypeSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  memory: z.number().int(),
  secure: z.boolean(),
  community: z.boolean(),
  price: z.looseObject({ secure: z.number(), community: z.number() }),
  maxCount: z.looseObject({ secure: z.number().int(), community: z.number().int() }),
  availability: availabilitySchema.optional(),
  dataCenters: z.array(z.looseObject({ id: z.string(), availability: availabilitySchema })).optional(),
});
export type RunpodGpuType = z.infer<typeof gpuTypeSchema>;
export const listGpuTypesSchema = z.looseObject({ gpus: z.array(gpuTypeSchema) });

/** RFC 9457 problem details, RunPod's `ErrorResponse`. */
export const problemSchema = z.looseObject({ title: z.string(), status: z.number().int(), detail: z.string(), errors: z.array(z.string()).optional() });
export type RunpodProblem = z.infer<typeof problemSchema>;

/** The GraphQL envelope: errors come back with HTTP 200 and `data.<field>: null`. */
export const graphqlErrorSchema = z.looseObject({
  message: z.string(),
  path: z.array(z.union([z.string(), z.number()])).optional(),
  extensions: z.looseObject({ code: z.string().optional() }).optional(),
});
export type RunpodGraphqlError = z.infer<typeof graphqlErrorSchema>;
export const graphqlEnvelopeSchema = z.looseObject({ data: z.record(z.string(), z.unknown()).nullable().optional(), errors: z.array(graphqlErrorSchema).optional() });

/** `gpuTypes { id memoryInGb secureSpotPrice communitySpotPrice }`: per GPU per hour, null when there is no spot market for it. */
export const spotPricesSchema = z.array(z.looseObject({ id: z.string(), memoryInGb: z.number().nullable().optional(), secureSpotPrice: z.number().nullable(), communitySpotPrice: z.number().nullable() }));
export type RunpodSpotPrices = z.infer<typeof spotPricesSchema>;

/** `podRentInterruptable { id }`: null when the rent failed (then `errors` says why) — or, rarely, with no error at all. */
export const rentedPodSchema = z.looseObject({ id: z.string().min(1) }).nullable();

/** Parse a RunPod answer, or a ProviderError that names the API call and the first bad field. */
export function parseRunpod<T extends z.ZodType>(schema: T, body: unknown, what: string, status?: number): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? issue.path.join(".") : "(the body)";
  return failParse(what, field, issue?.message ?? "invalid", status);
}

function failParse(what: string, field: string, message: string, status: number | undefined): never {
  throw new ProviderError("runpod", "fatal", `RunPod ${what} answered a body Kiln cannot read: ${field}: ${message}`, {
    code: "kiln/unexpected-response",
    ...(status !== undefined && { status }),
    suggestion: "RunPod's API may have changed; try again later, and check https://uptime.runpod.io",
  });
}

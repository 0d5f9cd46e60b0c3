/**
 * What Kiln reads from GCE, parsed with zod (the SDK's objects are protobuf-shaped JSON: int64 as strings,
 * absent fields as null/[] ). Only the fields Kiln uses; everything else passes through untouched. Field
 * names and enums follow the Compute v1 discovery document (../shared/reference/specs/gce).
 */
import { z } from "zod";

const str = z.string().nullish();
const int64 = z.union([z.string(), z.number()]).nullish();

export const OperationErrorItem = z.object({ code: str, message: str, location: str }).passthrough();
export const Operation = z
  .object({
    name: z.string(),
    zone: str,
    operationType: str,
    status: z.string(),
    targetLink: str,
    insertTime: str,
    startTime: str,
    endTime: str,
    httpErrorStatusCode: z.number().nullish(),
    httpErrorMessage: str,
    statusMessage: str,
    error: z.object({ errors: z.array(OperationErrorItem).nullish() }).passthrough().nullish(),
  })
  .passthrough();
export type Operation = z.infer<typeof Operation>;

export const OperationList = z.object({ items: z.array(Operation).nullish(), nextPageToken: str }).passthrough();

export const Instance = z
  .object({
    name: z.string(),
    status: z.string(),
    zone: str,
    machineType: str,
    creationTimestamp: str,
    lastStartTimestamp: str,
    statusMessage: str,
    labels: z.record(z.string(), z.string()).nullish(),
    scheduling: z.object({ provisioningModel: str, instanceTerminationAction: str, maxRunDuration: z.object({ seconds: int64 }).passthrough().nullish() }).passthrough().nullish(),
    networkInterfaces: z.array(z.object({ networkIP: str, accessConfigs: z.array(z.object({ natIP: str, type: str }).passthrough()).nullish() }).passthrough()).nullish(),
  })
  .passthrough();
export type Instance = z.infer<typeof Instance>;


/**
 * Google's JSON error envelope for synchronous errors. Not in the discovery document [A: Google's "Errors"
 * design guide]: `{error: {code, message, status, errors: [{reason, domain, message}], details: [...]}}`.
 */
export const GoogleErrorBody = z.object({
  error: z
    .object({
      code: z.number().optional(),
      message: z.string().optional(),
      status: z.string().optional(),
      errors: z.array(z.object({ reason: z.string().optional(), domain: z.string().optional(), message: z.string().optional() }).passthrough()).optional(),
      details: z.array(z.record(z.string(), z.unknown())).optional(),
    })
    .passthrough(),
});
export type GoogleErrorBody = z.infer<typeof GoogleErrorBody>;

/** Parse one response with its schema; a mismatch names the provider and the field. */
export function parseGcp<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? issue.path.join(".") : "(root)";
  throw new MalformedResponse(`GCE answered ${what} with a malformed body: ${field}: ${issue?.message ?? "invalid"}`, field);
}

export class MalformedResponse extends Error {
  override readonly name = "MalformedResponse";
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

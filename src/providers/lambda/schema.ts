/**
 * Zod schemas for every Lambda Cloud API response Kiln reads (spec 1.8.3, see openapi/). They are
 * deliberately *lenient about extra fields* (z.object strips them) so that Lambda adding a field never
 * breaks Kiln, but *strict about the fields Kiln uses*: a missing or mistyped one is a ProviderError
 * that names the field path (see {@link parseLambdaData}), never a crash deeper in the lifecycle.
 *
 * Statuses and region codes are kept as plain strings here and mapped explicitly elsewhere, because a
 * new enum value from Lambda must become Kiln's "unknown" state, not a parse failure.
 */
import { z } from "zod";
import { ProviderError } from "../provider.js";

export const regionSchema = z.object({ name: z.string(), description: z.string() });
export type LambdaRegion = z.infer<typeof regionSchema>;

export const instanceTypeSpecsSchema = z.object({
  vcpus: z.number().int(),
  memory_gib: z.number().int(),
  storage_gib: z.number().int(),
  gpus: z.number().int(),
});

export const instanceTypeSchema = z.object({
  name: z.string(),
  description: z.string(),
  gpu_description: z.string(),
  /**
   * Integer US cents per hour (quirk: never dollars). Any number is accepted here so that one bad row
   * does not hide the whole listing; offersFrom drops rows whose price is not believable.
   */
  price_cents_per_hour: z.number(),
  specs: instanceTypeSpecsSchema,
});
export type LambdaInstanceType = z.infer<typeof instanceTypeSchema>;

/** `GET /instance-types` is a map keyed by type name, not an array. */
export const instanceTypesSchema = z.record(
  z.string(),
  z.object({
    instance_type: instanceTypeSchema,
    /** The only capacity signal: empty means sold out everywhere. */
    regions_with_capacity_available: z.array(regionSchema),
  }),
);
export type LambdaInstanceTypes = z.infer<typeof instanceTypesSchema>;

/** The statuses spec 1.8.3 lists; anything else maps to Kiln's "unknown". */
export const LAMBDA_STATUSES = ["booting", "active", "unhealthy", "terminated", "terminating", "preempted"] as const;
export type LambdaStatus = (typeof LAMBDA_STATUSES)[number];

export const instanceSchema = z.object({
  id: z.string().min(1),
  name: z.string().nullish(),
  // Absent while booting (dstack and SkyPilot read it only after boot); tolerate null too.
  ip: z.string().nullish(),
  private_ip: z.string().nullish(),
  status: z.string(),
  ssh_key_names: z.array(z.string()),
  file_system_names: z.array(z.string()),
  region: regionSchema,
  instance_type: instanceTypeSchema,
  hostname: z.string().nullish(),
});
export type LambdaInstance = z.infer<typeof instanceSchema>;

export const launchResponseSchema = z.object({ instance_ids: z.array(z.string().min(1)) });
export const terminateResponseSchema = z.object({ terminated_instances: z.array(instanceSchema) });
export const restartResponseSchema = z.object({ restarted_instances: z.array(instanceSchema) });

export const sshKeySchema = z.object({ id: z.string(), name: z.string(), public_key: z.string() });
export type LambdaSshKey = z.infer<typeof sshKeySchema>;
/** Returned by addSSHKey when no public key was sent: Lambda generated the pair. */
export const generatedSshKeySchema = sshKeySchema.extend({ private_key: z.string().optional() });
export const emptySchema = z.object({});

export const fileSystemSchema = z.object({
  id: z.string(),
  name: z.string(),
  mount_point: z.string(),
  created: z.string(),
  is_in_use: z.boolean(),
  region: regionSchema,
  bytes_used: z.number().int().optional(),
});
export type LambdaFileSystem = z.infer<typeof fileSystemSchema>;
export const fileSystemDeleteSchema = z.object({ deleted_ids: z.array(z.string()) });

export const imageSchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  family: z.string(),
  version: z.string(),
  architecture: z.string(),
  region: regionSchema,
});
export type LambdaImage = z.infer<typeof imageSchema>;

export const firewallRuleSchema = z.object({
  protocol: z.enum(["tcp", "udp", "icmp", "all"]),
  // Forbidden for icmp, required otherwise; Kiln only writes tcp rules.
  port_range: z.tuple([z.number().int(), z.number().int()]).optional(),
  source_network: z.string(),
  description: z.string(),
});
export type LambdaFirewallRule = z.infer<typeof firewallRuleSchema>;

/** `{"error": {code, message, suggestion?}}`; branch on `code` only (Lambda may reword the rest). */
export const errorEnvelopeSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), suggestion: z.string().optional() }),
});
export type LambdaApiError = z.infer<typeof errorEnvelopeSchema>["error"];

/** Render zod issues as `data.gpu_1x_a10.instance_type.price_cents_per_hour: Invalid input: …`. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join(".") || "(body)"}: ${i.message}`)
    .join("; ");
}

/**
 * Decode a `{"data": …}` body with `schema`. A mismatch is a ProviderError (kind "fatal", code
 * "kiln/unexpected-response") naming the field, so a changed API stops Kiln cleanly.
 *
 * @example parseLambdaData(launchResponseSchema, body, "POST /instance-operations/launch").instance_ids
 */
export function parseLambdaData<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const envelope = z.object({ data: schema }).safeParse(body);
  if (envelope.success) return (envelope.data as { data: z.infer<T> }).data;
  throw new ProviderError("lambda", "fatal", `Lambda's response to ${what} was not what Kiln expects: ${describeIssues(envelope.error)}`, {
    code: "kiln/unexpected-response",
    cause: envelope.error,
  });
}

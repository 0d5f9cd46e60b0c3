/**
 * The parts of EC2's answers Kiln reads, checked with zod: the SDK turns EC2's XML into objects typed from
 * AWS's model, but typed is not checked (every member of an EC2 shape is optional in the model, and a proxy
 * or an emulator can answer anything), so the fields Kiln relies on are parsed here and a missing one is a
 * ProviderError naming the field.
 */
import { z } from "zod";
import { ProviderError } from "../provider.js";

const Tag = z.object({ Key: z.string().optional(), Value: z.string().optional() }).passthrough();

export const Ec2Instance = z
  .object({
    InstanceId: z.string().regex(/^i-[0-9a-f]+$/),
    InstanceType: z.string(),
    State: z.object({ Name: z.string() }).passthrough(),
    LaunchTime: z.union([z.date(), z.string()]).optional(),
    PublicIpAddress: z.string().optional(),
    PrivateIpAddress: z.string().optional(),
    InstanceLifecycle: z.string().optional(),
    StateReason: z.object({ Code: z.string().optional(), Message: z.string().optional() }).passthrough().optional(),
    StateTransitionReason: z.string().optional(),
    ClientToken: z.string().optional(),
    Placement: z.object({ AvailabilityZone: z.string().optional() }).passthrough().optional(),
    Tags: z.array(Tag).optional(),
  })
  .passthrough();
export type Ec2Instance = z.infer<typeof Ec2Instance>;

export const RunInstancesOut = z.object({ Instances: z.array(Ec2Instance).min(1) }).passthrough();
export const DescribeInstancesOut = z
  .object({ Reservations: z.array(z.object({ Instances: z.array(Ec2Instance).optional() }).passthrough()).optional(), NextToken: z.string().optional() })
  .passthrough();
export const SpotPriceHistoryOut = z
  .object({
    SpotPriceHistory: z.array(z.object({ InstanceType: z.string(), AvailabilityZone: z.string().optional(), SpotPrice: z.string().regex(/^\d+(\.\d+)?$/), Timestamp: z.union([z.date(), z.string()]).optional() }).passthrough()).optional(),
    NextToken: z.string().optional(),
  })
  .passthrough();
export const OfferingsOut = z.object({ InstanceTypeOfferings: z.array(z.object({ InstanceType: z.string() }).passthrough()).optional(), NextToken: z.string().optional() }).passthrough();
export const CallerIdentityOut = z.object({ Account: z.string(), Arn: z.string(), UserId: z.string().optional() }).passthrough();
export const ParameterOut = z.object({ Parameter: z.object({ Value: z.string().regex(/^ami-[0-9a-f]+$/) }).passthrough() }).passthrough();
export const ImagesOut = z.object({ Images: z.array(z.object({ ImageId: z.string(), CreationDate: z.string().optional(), Name: z.string().optional() }).passthrough()).optional() }).passthrough();
export const SecurityGroupsOut = z.object({ SecurityGroups: z.array(z.object({ GroupId: z.string(), IpPermissions: z.array(z.unknown()).optional() }).passthrough()).optional() }).passthrough();
export const CreateSecurityGroupOut = z.object({ GroupId: z.string() }).passthrough();

/** Parse an EC2 answer, or a ProviderError naming the operation and the first bad field. */
export function parseAws<T>(schema: z.ZodType<T>, value: unknown, operation: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? issue.path.join(".") : "(the response)";
  throw new ProviderError("aws", "fatal", `AWS ${operation} answered something Kiln cannot read: ${field}: ${issue?.message ?? "invalid"}`, { code: "kiln/malformed-response", cause: r.error });
}

/** A tag's value on an instance. */
export const tagOf = (i: Ec2Instance, key: string): string | undefined => i.Tags?.find((t) => t.Key === key)?.Value;

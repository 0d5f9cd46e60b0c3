/**
 * What Kiln reads from Azure, parsed (never cast): the SDK's deserialized VirtualMachine (its model
 * flattens ARM's `properties`), resource groups, public IPs, the permissions list, and the Retail
 * Prices API's JSON. A response that does not fit is a ProviderError naming the provider and the field.
 */
import { z } from "zod";
import { ProviderError } from "../provider.js";

const Status = z.object({ code: z.string().optional(), time: z.union([z.date(), z.string()]).optional(), message: z.string().optional() }).passthrough();

export const VmOut = z
  .object({
    name: z.string(),
    location: z.string(),
    tags: z.record(z.string(), z.string()).optional(),
    provisioningState: z.string().optional(),
    priority: z.string().optional(),
    evictionPolicy: z.string().optional(),
    hardwareProfile: z.object({ vmSize: z.string().optional() }).passthrough().optional(),
    timeCreated: z.union([z.date(), z.string()]).optional(),
    instanceView: z.object({ statuses: z.array(Status).optional() }).passthrough().optional(),
    id: z.string().optional(),
    identity: z.object({ type: z.string().optional(), principalId: z.string().optional() }).passthrough().optional(),
  })
  .passthrough();
export type VmOut = z.infer<typeof VmOut>;

export const InstanceViewOut = z.object({ statuses: z.array(Status).optional() }).passthrough();

export const GroupOut = z
  .object({
    name: z.string(),
    location: z.string(),
    tags: z.record(z.string(), z.string()).optional(),
    properties: z.object({ provisioningState: z.string().optional() }).passthrough().optional(),
  })
  .passthrough();
export type GroupOut = z.infer<typeof GroupOut>;

export const PublicIpOut = z.object({ ipAddress: z.string().optional(), provisioningState: z.string().optional() }).passthrough();

export const NicOut = z.object({ id: z.string() }).passthrough();

export const PermissionsOut = z.object({
  value: z.array(z.object({ actions: z.array(z.string()).default([]), notActions: z.array(z.string()).default([]) }).passthrough()),
});

export const RetailItem = z
  .object({
    retailPrice: z.number(),
    currencyCode: z.string(),
    armRegionName: z.string(),
    armSkuName: z.string(),
    skuName: z.string(),
    meterName: z.string(),
    productName: z.string(),
    type: z.string(),
    unitOfMeasure: z.string(),
    effectiveStartDate: z.string().optional(),
  })
  .passthrough();
export type RetailItem = z.infer<typeof RetailItem>;

export const RetailPage = z.object({ Items: z.array(RetailItem), NextPageLink: z.string().nullable().optional() }).passthrough();

/** Parse `value` as `schema`, or a ProviderError naming Azure, the call and the first bad field. */
export function parseAzure<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? issue.path.join(".") : "(body)";
  throw new ProviderError("azure", "transient", `Azure ${what}: unexpected response, field ${field}: ${issue?.message ?? "invalid"}`, { code: "kiln/malformed-response" });
}

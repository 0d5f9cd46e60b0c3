/**
 * The emulated GraphQL endpoint (`POST /graphql`). It serves exactly the documents Kiln sends
 * (../graphql-ops.ts) and answers any other with a validation error, as a GraphQL server answers a document
 * its schema rejects. Errors come back as RunPod's do: HTTP 200, `errors[]`, `data.<field>: null`.
 */
import { z } from "zod";
import type { FaultRule } from "../../emulator-kit/faults.js";
import type { EmuReply, EmuRequest } from "../../emulator-kit/http.js";
import { RENT_INTERRUPTIBLE_MUTATION, SPOT_PRICES_QUERY } from "../graphql-ops.js";
import type { RunpodAccount } from "./account.js";
import { CAPACITY_DETAIL } from "./rest.js";

const bodySchema = z.strictObject({ query: z.string(), variables: z.record(z.string(), z.unknown()).optional(), operationName: z.string().optional() });
const rentInputSchema = z.strictObject({
  bidPerGpu: z.number().positive(),
  cloudType: z.enum(["SECURE", "COMMUNITY", "ALL"]),
  gpuTypeId: z.string(),
  gpuCount: z.number().int().min(1),
  name: z.string(),
  imageName: z.string(),
  containerDiskInGb: z.number().int().min(0),
  volumeInGb: z.number().int().min(0),
  ports: z.string(),
  env: z.array(z.strictObject({ key: z.string(), value: z.string() })),
  dataCenterId: z.string().optional(),
  supportPublicIp: z.boolean().optional(),
  startSsh: z.boolean().optional(),
  volumeMountPath: z.string().optional(),
});

export interface GraphqlContext {
  account: RunpodAccount;
  createFault(method: string, path: string): FaultRule | undefined;
  startLag(id: string, rule: FaultRule): void;
}

const gqlError = (field: string | undefined, message: string, code: string): EmuReply => ({
  status: 200,
  body: { errors: [{ message, ...(field && { path: [field] }), extensions: { code } }], data: field ? { [field]: null } : null },
});

export async function graphqlRoute(c: GraphqlContext, r: EmuRequest): Promise<EmuReply> {
  if (r.method !== "POST") return { status: 405, body: { errors: [{ message: "GraphQL only accepts POST here" }] } };
  const b = bodySchema.safeParse(r.body);
  if (!b.success) return { status: 400, body: { errors: [{ message: "a GraphQL request is a JSON object with `query` and optional `variables`", extensions: { code: "BAD_REQUEST" } }] } };
  const { query, variables } = b.data;
  if (query === SPOT_PRICES_QUERY) {
    return { status: 200, body: { data: { gpuTypes: c.account.gpus.map((g) => ({ id: g.id, memoryInGb: g.memory, secureSpotPrice: g.price.secureSpot, communitySpotPrice: g.price.communitySpot })) } } };
  }
  if (query === RENT_INTERRUPTIBLE_MUTATION) return rent(c, r, variables?.["input"]);
  return gqlError(undefined, "Cannot validate the document: the emulator serves only Kiln's operations (see src/providers/runpod/graphql-ops.ts)", "GRAPHQL_VALIDATION_FAILED");
}

async function rent(c: GraphqlContext, r: EmuRequest, raw: unknown): Promise<EmuReply> {
  const field = "podRentInterruptable";
  const parsed = rentInputSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    return gqlError(undefined, `Variable "$input" got invalid value at "input${i?.path.length ? `.${i.path.join(".")}` : ""}": ${i?.message ?? "invalid"}`, "BAD_USER_INPUT");
  }
  const input = parsed.data;
  const gpu = c.account.gpu(input.gpuTypeId);
  if (!gpu) return gqlError(field, `gpu type ${input.gpuTypeId} not found`, "BAD_USER_INPUT");
  const cloud = input.cloudType === "COMMUNITY" ? "COMMUNITY" : "SECURE";
  const spot = cloud === "SECURE" ? gpu.price.secureSpot : gpu.price.communitySpot;
  if (spot === null) return gqlError(field, `${gpu.id} has no interruptible market on ${cloud.toLowerCase()} cloud`, "BAD_USER_INPUT");
  // GUESS: the wording of a bid below the market; RunPod's real message was not found in the sources.
  if (input.bidPerGpu < spot) return gqlError(field, `Your bid of $${input.bidPerGpu}/GPU/hr is below the minimum bid of $${spot}/GPU/hr.`, "BAD_USER_INPUT");
  const fault = c.createFault(r.method, r.path);
  if (fault?.kind === "insufficient-balance") return gqlError(field, "You do not have enough funds to rent this pod.", "INSUFFICIENT_FUNDS");
  const dc = c.account.placement(gpu, cloud, input.dataCenterId ? [input.dataCenterId] : undefined);
  if (fault?.kind === "capacity" || dc === undefined) return gqlError(field, CAPACITY_DETAIL, "SUPPLY_CONSTRAINT");
  const env = Object.fromEntries(input.env.map((e) => [e.key, e.value]));
  const pod = c.account.create({
    name: input.name,
    image: input.imageName,
    gpu,
    gpuCount: input.gpuCount,
    cloud,
    dataCenterId: dc,
    env,
    ports: input.ports.split(",").map((p) => p.trim()).filter(Boolean),
    disk: input.containerDiskInGb,
    interruptible: true,
    bidPerGpu: input.bidPerGpu,
    // GUESS (see ../provider.ts): billed at the market's spot price, the bid being the most it may cost.
    pricePerHour: Math.round(spot * input.gpuCount * 10_000) / 10_000,
  });
  if (fault?.kind === "listing-lag") c.startLag(pod.id, fault);
  // The rent happened, but the answer carries no pod (the "200 without an id" case).
  if (fault?.kind === "no-id") return { status: 200, body: { data: { [field]: null } } };
  return { status: 200, body: { data: { [field]: { id: pod.id } } } };
}

/**
 * cloud.json: a cloud job's driver input, written by `kiln run --provider …` beside spec.yaml and
 * re-read by the driver, `kiln down` and reconciliation. Our own file, but it crosses a process
 * boundary, so it is parsed with a schema. No secrets: keys come from the environment/credentials.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { KilnError } from "../../base/errors.js";
import { isProviderName } from "../../providers/registry.js";

const OfferSchema = z.object({
  provider: z.string(),
  instanceType: z.string(),
  gpu: z.string(),
  gpuCount: z.number(),
  vramGb: z.number(),
  region: z.string(),
  pricePerHour: z.number(),
  /** The worst case an hour can cost (a spot bid); the cap counts it (cap.ts). */
  capPricePerHour: z.number().optional(),
  vcpus: z.number().optional(),
  memoryGb: z.number().optional(),
  diskGb: z.number().optional(),
  /** How the offer's disk can be sized at launch (Offer.diskSizing); the provider checks a sized launch against it. */
  diskSizing: z
    .strictObject({ maxGb: z.number(), minGb: z.number().optional(), usdPerGbMonth: z.number(), includedGb: z.number(), priceSource: z.string(), billedAfterTermination: z.literal(false) })
    .optional(),
  /** The disk the planner sized for the activation cache: the launch asks for `gb` (LaunchRequest.diskGb), and it bills `usdPerHour` on top of `pricePerHour`. */
  launchDisk: z.strictObject({ gb: z.number().positive(), usdPerHour: z.number().nonnegative() }).optional(),
  spot: z.boolean(),
  available: z.boolean().optional(),
  priceSource: z.enum(["live", "catalog"]),
  priceDate: z.string(),
});

export const CloudFileSchema = z.strictObject({
  version: z.literal(1),
  jobId: z.string(),
  jobName: z.string(),
  /** The first provider the job may run on (a host's name for provider ssh). */
  provider: z.string().refine(isProviderName, { error: "is not a registered provider" }),
  /** Every provider whose offers are in `offers`, in the user's order (absent in files written before failover across providers: [provider]). */
  providers: z.array(z.string().refine(isProviderName, { error: "is not a registered provider" })).min(1).optional(),
  /** How many times a preempted or lost machine is replaced (resources.max_restarts; absent in older files: 3). */
  maxRestarts: z.number().int().nonnegative().optional(),
  /** Provider `ssh`: the user's host (resources.ssh), never created or destroyed by Kiln. */
  ssh: z
    .strictObject({
      host: z.string(),
      port: z.number().int().positive(),
      user: z.string(),
      /** An interpreter already on the host; absent: remote setup builds a venv. */
      python: z.string().optional(),
      /** Remove the remote job directory once the artifacts are verified here. */
      cleanup: z.boolean(),
    })
    .optional(),
  /** Run against an emulator started by the driver itself (its instances are loopback sshd's). */
  sim: z.boolean(),
  /** Directory of the submitted spec: its relative paths (dataset, python) resolve against it. */
  specDir: z.string(),
  /** Offers to try in order (cheapest expected cost first); failover stops after `maxOffers`. */
  offers: z.array(OfferSchema).min(1),
  maxOffers: z.number().int().positive(),
  /** The spec's user key (`resources.key`), resolved; default Kiln's own key. */
  keyPath: z.string().optional(),
  budget: z.strictObject({ maxUsd: z.number().positive(), maxHours: z.number().positive().optional(), alertFractions: z.array(z.number()) }),
  /** Monitor tick: metrics sync, progress, budget; also the budget's safety margin. */
  pollMs: z.number().int().positive(),
  /** Time kept in hand for stop → pull → verify → terminate, priced into the cap's margin. */
  teardownReserveMs: z.number().int().nonnegative(),
  bootTimeoutMs: z.number().int().positive(),
  terminate: z.strictObject({ pollMs: z.number().int().positive(), timeoutMs: z.number().int().positive() }),
  stopGraceMs: z.number().int().positive(),
  /** The user opted in to the watchdog terminating the machine with the API key (documented risk). */
  watchdogTerminate: z.boolean(),
});
export type CloudFile = z.infer<typeof CloudFileSchema>;
export type CloudOffer = CloudFile["offers"][number];

/** The providers a cloud file's offers come from. */
export const providersOf = (c: CloudFile): string[] => c.providers ?? [c.provider];

export const cloudFilePath = (jobDir: string): string => join(jobDir, "cloud.json");

export function writeCloudFile(jobDir: string, c: CloudFile): void {
  const p = cloudFilePath(jobDir);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(c, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

export function readCloudFile(jobDir: string): CloudFile | undefined {
  let text: string;
  try {
    text = readFileSync(cloudFilePath(jobDir), "utf8");
  } catch {
    return undefined;
  }
  const r = CloudFileSchema.safeParse(JSON.parse(text));
  if (!r.success) throw new KilnError("cloud_file", `${cloudFilePath(jobDir)} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

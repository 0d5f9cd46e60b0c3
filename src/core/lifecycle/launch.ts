/**
 * Launch with failover, across providers. For each offer (cheapest expected cost first, up to a cap):
 * commit an intent row with a fresh id *before* calling the provider, launch with the machine named
 * `kiln-<intentId>`, and record the provider's id. By the contract's error classes: capacity moves to the
 * next offer (blocking the instance type or region its scope names); quota, billing and auth rule that
 * provider out for the job and move to the next provider's offers; a lost launch response is resolved by
 * listing machines by name — never by launching again; anything else (a bad request) stops.
 */
import { randomBytes } from "node:crypto";
import { KilnError, errorMessage } from "../../base/errors.js";
import { sleep } from "../../base/deadline.js";
import type { Logger } from "../../base/logger.js";
import { blocksProvider, isMaybeLaunched, isPermanentProviderError, type MachineRecord, type Offer, type Provider, ProviderError, machineNameFor } from "../../providers/provider.js";
import type { Ledger, MachineLedgerRecord } from "../../store/index.js";
import { crashPoint } from "./crash.js";

export interface LaunchFailure {
  provider: string;
  offer: string;
  kind: string;
  why: string;
}

export interface Launched {
  row: MachineLedgerRecord;
  machine: MachineRecord;
  offer: Offer;
  provider: Provider;
  failures: LaunchFailure[];
}

export interface LaunchOptions {
  /** The provider that sells an offer (opened on first use: a provider never offered is never opened). */
  providerFor(name: string): Promise<Provider>;
  /** Providers ruled out for this job (quota, billing, auth); launches add to it. */
  blockedProviders: Set<string>;
  ledger: Ledger;
  jobId: string;
  attemptId: number;
  /** Offers in order; `launchDisk` is the disk the planner sized for one (asked as LaunchRequest.diskGb, billed on top of its price). */
  offers: readonly (Offer & { launchDisk?: { gb: number; usdPerHour: number } })[];
  maxOffers: number;
  sshKeyName: string;
  sshPublicKey: string;
  signal: AbortSignal;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** How long a launched machine may be missing from a provider's listing (see findByIntent). */
  listingLagMs(provider: string): number;
  /** The machine's deadline for clouds that enforce one at launch (LaunchRequest.maxRunSeconds), given its intent row; undefined: none. */
  maxRunSecondsFor?(machineRowId: number): number | undefined;
  /** The provider volume to attach to the machine (the job's lambda-fs store); see LaunchRequest. */
  persistentVolume?: { name: string };
  /** The watchdog must be able to end the machine's billing (LaunchRequest.selfStop). */
  selfStop?: boolean;
}

/**
 * A fresh intent id, `<installation>-<10 hex>`: the machine's name `kiln-<intent>` then says which
 * installation (KILN_HOME) launched it, so another installation sharing the account never touches it.
 */
export const newIntentId = (installationId: string): string => `${installationId}-${randomBytes(5).toString("hex")}`;
const label = (o: Offer) => `${o.provider} ${o.instanceType} in ${o.region} ($${o.pricePerHour.toFixed(2)}/h)`;

/** Closed ledger states for a machine row that never billed. */
export const NEVER_LAUNCHED = "never-launched";

/**
 * Find the machine named for `intentId` after a launch whose outcome is unknown. Listings can lag behind
 * a launch, so one clean listing proves nothing: the machine is looked for until `lagMs` has passed and
 * at least two listings in a row have answered without it; only then is it surely not there
 * (undefined). Listing errors are retried; a listing that keeps failing past the lag ends with an
 * error, because "not there" can then not be concluded (the intent stays open for reconciliation).
 */
export async function findByIntent(provider: Provider, intentId: string, signal: AbortSignal, lagMs: number, now: () => number = Date.now): Promise<MachineRecord | undefined> {
  const name = machineNameFor(intentId);
  const deadline = now() + lagMs;
  let clean = 0;
  let interval = 200;
  let lastError: unknown;
  for (;;) {
    try {
      const found = (await provider.listMachines(signal)).find((m) => m.name === name);
      if (found) return found;
      clean++;
    } catch (e) {
      if (isPermanentProviderError(e) || signal.aborted) throw e;
      clean = 0;
      lastError = e;
    }
    if (now() >= deadline && clean >= 2) return undefined;
    if (now() >= deadline + lagMs) {
      throw new KilnError("launch_outcome_unresolved", `cannot tell whether ${name} was launched on ${provider.name}: listing it kept failing for ${Math.round((2 * lagMs) / 1000)} s (${errorMessage(lastError)}); \`kiln status --refresh\` resolves it later`, { cause: lastError });
    }
    await sleep(interval, signal);
    interval = Math.min(interval * 2, 5_000);
  }
}

export async function launchWithFailover(o: LaunchOptions): Promise<Launched> {
  const failures: LaunchFailure[] = [];
  const blocked = new Set<string>();
  const tried = o.offers.slice(0, o.maxOffers);
  for (const offer of tried) {
    const why = o.blockedProviders.has(offer.provider) ? `${offer.provider} is ruled out for this job` : blocked.has(`${offer.provider}/${offer.instanceType}`) || blocked.has(`${offer.provider}/${offer.instanceType}@${offer.region}`) ? "blocked by an earlier failure" : undefined;
    if (why) {
      failures.push({ provider: offer.provider, offer: label(offer), kind: "skipped", why });
      continue;
    }
    let provider: Provider;
    try {
      provider = await o.providerFor(offer.provider);
    } catch (e) {
      // Credentials missing or unreadable: that provider is out, the others may still launch.
      o.blockedProviders.add(offer.provider);
      failures.push({ provider: offer.provider, offer: label(offer), kind: "auth", why: errorMessage(e) });
      continue;
    }
    const launched = await launchOne(o, provider, offer, failures);
    if (launched === "next") continue;
    if (launched.kind === "blocked") {
      if (launched.scope === "provider") o.blockedProviders.add(offer.provider);
      else blocked.add(launched.scope === "instance-type" ? `${offer.provider}/${offer.instanceType}` : `${offer.provider}/${offer.instanceType}@${offer.region}`);
      continue;
    }
    return { ...launched.value, provider, failures };
  }
  throw new KilnError("no_capacity", `no offer could be launched (${tried.length} tried):\n${failureTable(failures)}`, { details: { failures } });
}

type OneLaunch = "next" | { kind: "blocked"; scope: "provider" | "instance-type" | "region" } | { kind: "launched"; value: Omit<Launched, "failures" | "provider"> };

/** One offer: intent first, then the call; the outcome says whether to try the next offer and what to block. */
async function launchOne(o: LaunchOptions, provider: Provider, offer: LaunchOptions["offers"][number], failures: LaunchFailure[]): Promise<OneLaunch> {
  const intentId = newIntentId(o.ledger.installationId());
  // A disk sized at launch bills with the machine: the ledger's rate (spend, the budget cap) counts it.
  const disk = offer.launchDisk;
  const row = o.ledger.recordMachineIntent({ intentId, jobId: o.jobId, attemptId: o.attemptId, provider: offer.provider, offer, pricePerHour: offer.pricePerHour + (disk?.usdPerHour ?? 0) });
  crashPoint("after-intent", o.env);
  let machine: MachineRecord | undefined;
  try {
    const maxRunSeconds = o.maxRunSecondsFor?.(row.id);
    machine = await provider.launch({ intentId, offer, sshKeyName: o.sshKeyName, sshPublicKey: o.sshPublicKey, ...(maxRunSeconds !== undefined && { maxRunSeconds }), ...(o.persistentVolume && { persistentVolume: o.persistentVolume }), ...(disk && { diskGb: disk.gb }), ...(o.selfStop && { selfStop: true }) }, o.signal);
  } catch (e) {
    if (isMaybeLaunched(e)) {
      o.logger.warn(`launch answer lost for ${machineNameFor(intentId)}; looking for it by name`);
      machine = await findByIntent(provider, intentId, o.signal, o.listingLagMs(offer.provider));
      if (!machine) {
        o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `launch answer lost and no machine named ${machineNameFor(intentId)} exists`);
        failures.push({ provider: offer.provider, offer: label(offer), kind: "lost", why: "launch answer lost; no machine was created" });
        return "next";
      }
    } else if (e instanceof ProviderError && e.kind !== "invalid" && e.kind !== "fatal") {
      o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `${e.kind}: ${e.message}`);
      failures.push({ provider: offer.provider, offer: label(offer), kind: e.kind, why: e.message });
      o.logger.info(`${label(offer)}: ${e.kind}; trying the next offer`);
      if (blocksProvider(e)) return { kind: "blocked", scope: "provider" };
      if (e.scope === "instance-type" || e.scope === "region") return { kind: "blocked", scope: e.scope };
      return "next";
    } else {
      o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `launch failed: ${errorMessage(e)}`);
      throw e;
    }
  }
  crashPoint("after-launch-call", o.env);
  o.ledger.markMachineLaunched(row.id, machine.id, machine.state, machine.launchedAt);
  crashPoint("after-launch-recorded", o.env);
  return { kind: "launched", value: { row: o.ledger.getMachine(row.id)!, machine, offer } };
}

export function failureTable(failures: readonly LaunchFailure[]): string {
  const w = Math.max(5, ...failures.map((f) => f.offer.length));
  return failures.map((f) => `  ${f.offer.padEnd(w)}  ${f.kind.padEnd(10)}  ${f.why}`).join("\n");
}

/**
 * Launch with failover. For each offer (cheapest expected cost first, up to a cap): commit an intent
 * row with a fresh id *before* calling the provider, launch with the machine named `kiln-<intentId>`,
 * and record the provider's id. Capacity (and quota/region) failures move to the next offer; a lost
 * launch response is resolved by listing machines by name — never by launching again.
 */
import { randomBytes } from "node:crypto";
import { KilnError, errorMessage } from "../../base/errors.js";
import { sleep } from "../../base/deadline.js";
import type { Logger } from "../../base/logger.js";
import { isMaybeLaunched, isPermanentProviderError, type MachineRecord, type Offer, type Provider, ProviderError, machineNameFor } from "../../providers/provider.js";
import type { Ledger, MachineLedgerRecord } from "../../store/index.js";
import { crashPoint } from "./crash.js";

export interface LaunchFailure {
  offer: string;
  kind: string;
  why: string;
}

export interface Launched {
  row: MachineLedgerRecord;
  machine: MachineRecord;
  offer: Offer;
  failures: LaunchFailure[];
}

export interface LaunchOptions {
  provider: Provider;
  ledger: Ledger;
  jobId: string;
  attemptId: number;
  offers: readonly Offer[];
  maxOffers: number;
  sshKeyName: string;
  sshPublicKey: string;
  signal: AbortSignal;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** How long a launched machine may be missing from the provider's listing (see findByIntent). */
  listingLagMs?: number;
}

/**
 * A fresh intent id, `<installation>-<10 hex>`: the machine's name `kiln-<intent>` then says which
 * installation (KILN_HOME) launched it, so another installation sharing the account never touches it.
 */
export const newIntentId = (installationId: string): string => `${installationId}-${randomBytes(5).toString("hex")}`;
const label = (o: Offer) => `${o.instanceType} in ${o.region} ($${o.pricePerHour.toFixed(2)}/h)`;

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
    if (blocked.has(offer.instanceType) || blocked.has(`${offer.instanceType}@${offer.region}`)) {
      failures.push({ offer: label(offer), kind: "skipped", why: "blocked by an earlier failure" });
      continue;
    }
    const intentId = newIntentId(o.ledger.installationId());
    const row = o.ledger.recordMachineIntent({ intentId, jobId: o.jobId, attemptId: o.attemptId, provider: offer.provider, offer, pricePerHour: offer.pricePerHour });
    crashPoint("after-intent", o.env);
    let machine: MachineRecord | undefined;
    try {
      machine = await o.provider.launch({ intentId, offer, sshKeyName: o.sshKeyName, sshPublicKey: o.sshPublicKey }, o.signal);
    } catch (e) {
      if (isMaybeLaunched(e)) {
        o.logger.warn(`launch answer lost for ${machineNameFor(intentId)}; looking for it by name`);
        machine = await findByIntent(o.provider, intentId, o.signal, o.listingLagMs ?? 60_000);
        if (!machine) {
          o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `launch answer lost and no machine named ${machineNameFor(intentId)} exists`);
          failures.push({ offer: label(offer), kind: "lost", why: "launch answer lost; no machine was created" });
          continue;
        }
      } else if (e instanceof ProviderError && ["capacity", "quota", "rate-limited", "transient"].includes(e.kind)) {
        o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `${e.kind}: ${e.message}`);
        failures.push({ offer: label(offer), kind: e.kind, why: e.message });
        if (e.kind === "quota" || e.scope === "provider") break;
        if (e.scope === "instance-type") blocked.add(offer.instanceType);
        if (e.scope === "region") blocked.add(`${offer.instanceType}@${offer.region}`);
        o.logger.info(`${label(offer)}: ${e.kind}; trying the next offer`);
        continue;
      } else {
        o.ledger.setMachineState(row.id, NEVER_LAUNCHED, `launch failed: ${errorMessage(e)}`);
        throw e;
      }
    }
    crashPoint("after-launch-call", o.env);
    o.ledger.markMachineLaunched(row.id, machine.id, machine.state, machine.launchedAt);
    crashPoint("after-launch-recorded", o.env);
    return { row: o.ledger.getMachine(row.id)!, machine, offer, failures };
  }
  throw new KilnError("no_capacity", `no offer could be launched (${tried.length} tried):\n${failureTable(failures)}`, { details: { failures } });
}

export function failureTable(failures: readonly LaunchFailure[]): string {
  const w = Math.max(5, ...failures.map((f) => f.offer.length));
  return failures.map((f) => `  ${f.offer.padEnd(w)}  ${f.kind.padEnd(10)}  ${f.why}`).join("\n");
}

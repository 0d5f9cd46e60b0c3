/**
 * The watchdog for one job on one machine: turns the spec's budget and durable store, the provider's
 * ways to end billing and the time left into the {@link WatchdogSpec} that `startWatchdog` runs.
 *
 * The deadline is placed so that the whole sequence fits inside the cap: the watchdog fires at
 * `secondsUntilCap − grace − push allowance − end-billing allowance`, so checkpoint, push + verify and the
 * end of billing are done by the cap when each takes no longer than its allowance. The push has that
 * allowance as its own deadline; a push that runs out is a failed push (keep-data keeps the machine,
 * stop-billing ends billing and records the loss). The cap counts billed time: `secondsUntilCap` is
 * counted from the provider's launch time, with no boot allowance added.
 */
import { UserError } from "../../base/errors.js";
import type { CapCapabilities, EndBilling } from "../../providers/descriptor.js";
import type { StoreCredentials } from "../artifact-store/credentials.js";
import { storeLocation } from "../artifact-store/location.js";
import { storeKindOf } from "../spec/artifact-store.js";
import type { JobBudget, JobSpec } from "../spec/job-spec.js";
import type { WatchdogSpec } from "./index.js";

/** Default time reserved for pushing and reading back the outputs (a few GB at ~50 MB/s, twice). */
export const DEFAULT_PUSH_ALLOWANCE_S = 600;
/**
 * A store only a machine can read (a Lambda file system): the returning client reads it through a retrieval
 * machine, the cheapest in the job machine's region, so at most the job machine's price. Its minutes are kept
 * inside the cap, so the job's spend with the retrieval still fits the budget.
 */
export const DEFAULT_RETRIEVAL_ALLOWANCE_S = 600;
/** Reserved for the end-billing script: its first try answers in seconds; retries run past the cap. */
export const END_BILLING_ALLOWANCE_S = 30;
/** keep-data with a failed push: retry this often, for this long, before giving up (the machine stays). */
const PUSH_RETRY_S = 60;
const KEEP_RETRYING_S = 24 * 3600;

export interface WatchdogForJobInput {
  spec: JobSpec;
  /** Kiln's job id: names the watchdog's run and the job's place in the store (PREFIX/<job id>/). */
  jobId: string;
  /** On the machine: the job's persistent-run directory (pid, pgid, exit_code). */
  runDir: string;
  /** On the machine: the watchdog's own directory (its run files, cap-events, push-result.json, private/). */
  watchdogDir: string;
  /** On the machine: the directory whose files are the outputs to push (checkpoints included). */
  outputsDir: string;
  /** Seconds from now until the cap binds, counted from the provider's launch time (billed time, no boot allowance): {@link secondsUntilCap}. */
  secondsUntilCap: number;
  /** Seconds between SIGTERM (the engine checkpoints) and SIGKILL. */
  graceS: number;
  /** The provider's end of billing for this machine (`ConfiguredCloud.endBilling(id)`), when the watchdog may hold its credential. */
  endBilling?: EndBilling;
  /** The provider descriptor's `cap` (undefined: none). */
  capabilities: CapCapabilities | undefined;
  /** The machine's store credentials (`storeCredentialsForJob`); required when `spec.artifacts.store` is set. */
  storeCredentials?: StoreCredentials;
  /** python3 on the machine for the push (any ≥ 3.8: the push uses only the standard library). Default `python3`. */
  python?: string;
  /** Seconds reserved for the push and its read-back; default {@link DEFAULT_PUSH_ALLOWANCE_S}. */
  pushAllowanceS?: number;
  /** lambda-fs stores: seconds of the cap kept for the retrieval machine; default {@link DEFAULT_RETRIEVAL_ALLOWANCE_S}. */
  retrievalAllowanceS?: number;
}

/**
 * An OS shutdown where it ends billing (EC2 with InstanceInitiatedShutdownBehavior=terminate, set at
 * launch): no credential on the machine at all. `sudo -n` so it never waits for a password.
 */
const SHUTDOWN_END_BILLING: EndBilling = {
  script: "#!/bin/sh\n# The instance was launched to terminate on shutdown: shutting down ends billing.\nsudo -n /sbin/shutdown -h now 2>/dev/null || /sbin/shutdown -h now 2>/dev/null || poweroff\n",
  args: [],
  files: [],
};

/** The watchdog run's name: letters, digits, `-` and `_` (see startRun). */
const runName = (jobId: string) => `kiln-wd-${jobId.replace(/[^A-Za-z0-9_-]/g, "-")}`.slice(0, 64);

/**
 * Seconds until the budget cap binds on a machine launched at `launchedAtMs` (the provider's launch time:
 * billed time, no boot allowance): the dollars cap at the worst-case price, or `max_hours`, whichever is
 * first. `spentBeforeUsd` / `elapsedBeforeS`: what earlier machines of the same job used (restarts).
 *
 * @example
 *   secondsUntilCap({ budget: spec.budget, capPricePerHour: 1.29, launchedAtMs: m.launchedAt, nowMs: Date.now() });
 */
export function secondsUntilCap(o: { budget: JobBudget; capPricePerHour: number; launchedAtMs: number; nowMs: number; spentBeforeUsd?: number; elapsedBeforeS?: number }): { seconds: number; binding: "usd" | "hours" } {
  const elapsed = Math.max(0, (o.nowMs - o.launchedAtMs) / 1000);
  const usdLeft = o.budget.max_usd - (o.spentBeforeUsd ?? 0);
  const byUsd = o.capPricePerHour > 0 ? (usdLeft / o.capPricePerHour) * 3600 - elapsed : Number.POSITIVE_INFINITY;
  const byHours = o.budget.max_hours === undefined ? Number.POSITIVE_INFINITY : o.budget.max_hours * 3600 - (o.elapsedBeforeS ?? 0) - elapsed;
  return byHours < byUsd ? { seconds: Math.max(0, byHours), binding: "hours" } : { seconds: Math.max(0, byUsd), binding: "usd" };
}

/**
 * The watchdog for this job. Pure: no I/O (the store credentials are minted before, by
 * `storeCredentialsForJob`). Throws UserError when the spec leaves the offline cap undecided for this
 * provider (no store, no cloud-side stop, no `budget.on_cap_offline`): `kiln run` refuses that earlier
 * through `capGuarantee`, so reaching it here means a caller skipped that check.
 *
 * @example
 *   const w = watchdogForJob({ spec, jobId, runDir, watchdogDir, outputsDir, graceS: 60,
 *     secondsUntilCap: secondsUntilCap({ budget: spec.budget, capPricePerHour, launchedAtMs, nowMs: Date.now() }).seconds,
 *     endBilling: cloud.endBilling?.(machineId), capabilities: descriptor.cap, storeCredentials });
 *   await startWatchdog(conn, w);
 */
export function watchdogForJob(i: WatchdogForJobInput): WatchdogSpec {
  const store = i.spec.artifacts.store;
  const caps = i.capabilities ?? {};
  const choice = i.spec.budget.on_cap_offline;
  const endBilling = i.endBilling ?? (caps.cloudSideStop === "shutdown-terminates" ? SHUTDOWN_END_BILLING : undefined);
  let whenNotDurable: WatchdogSpec["whenNotDurable"];
  if (choice === "stop-billing") whenNotDurable = "end-billing";
  else if (choice === "keep-data") whenNotDurable = "keep-machine";
  // A store makes keeping the data the safe reading of silence; the plan says so (capGuarantee).
  else if (store !== undefined) whenNotDurable = "keep-machine";
  // The cloud stops the machine at the cap whatever the watchdog does; the plan says outputs are lost.
  else if (caps.cloudSideStop !== undefined) whenNotDurable = "end-billing";
  else {
    throw new UserError("budget.on_cap_offline: this job has no durable artifact store and its provider has no cloud-side stop, so the spec must choose what happens at the cap with no client", {
      exitCode: 2,
      hint: "set budget.on_cap_offline: keep-data (spend may pass the cap) or stop-billing (unsaved outputs are lost), or add artifacts.store",
    });
  }
  let push: WatchdogSpec["push"];
  const pushAllowanceS = store ? (i.pushAllowanceS ?? DEFAULT_PUSH_ALLOWANCE_S) : 0;
  if (store) {
    if (!i.storeCredentials) throw new Error("watchdogForJob: spec.artifacts.store is set but no storeCredentials were passed (mint them with storeCredentialsForJob)");
    push = {
      python: i.python ?? "python3",
      outputsDir: i.outputsDir,
      config: { location: storeLocation(store, i.jobId), credentials: i.storeCredentials },
      timeoutS: pushAllowanceS,
      retryS: PUSH_RETRY_S,
      keepForS: KEEP_RETRYING_S,
    };
  }
  const retrievalS = store && storeKindOf(store.url) === "lambda-fs" ? (i.retrievalAllowanceS ?? DEFAULT_RETRIEVAL_ALLOWANCE_S) : 0;
  const reserved = i.graceS + pushAllowanceS + retrievalS + (endBilling ? END_BILLING_ALLOWANCE_S : 0);
  return {
    dir: i.watchdogDir,
    name: runName(i.jobId),
    runDir: i.runDir,
    remainingS: Math.max(0, i.secondsUntilCap - reserved),
    graceS: i.graceS,
    ...(endBilling && { endBilling }),
    ...(push && { push }),
    whenNotDurable,
  };
}

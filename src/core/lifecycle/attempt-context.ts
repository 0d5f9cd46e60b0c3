/**
 * What the steps of a cloud job's attempt share (./attempt.ts drives them, ./attempt-steps.ts are they):
 * the job's context, the attempt being built up step by step, and how an attempt ends.
 */
import { errorMessage } from "../../base/errors.js";
import type { WatchdogSpec } from "../watchdog/index.js";
import type { Logger } from "../../base/logger.js";
import type { MachineRecord } from "../../providers/provider.js";
import type { MachineAccess } from "../../remote/access.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import type { AttemptState, Ledger, MachineLedgerRecord } from "../../store/index.js";
import type { KilnPaths } from "../home.js";
import type { JobLayout } from "../job/layout.js";
import type { Step } from "../job/run-file.js";
import type { JobSpec } from "../spec/index.js";
import type { CloudFile, CloudOffer } from "./cloud-file.js";
import type { Cloud, CloudPool } from "./clouds.js";
import type { RunOutcome } from "./monitor.js";
import type { PreparedJob } from "./prepare.js";
import type { RemotePaths } from "./remote-job.js";

export interface DriveOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  signal: AbortSignal;
  /** Milestones (ms since the driver started), for the overhead bench. */
  onMilestone?: (name: string, ms: number) => void;
}

/** What every attempt of one job shares. */
export interface JobContext {
  c: CloudFile;
  o: DriveOptions;
  paths: KilnPaths;
  layout: JobLayout;
  jobDir: string;
  ledger: Ledger;
  spec: JobSpec;
  key: { privateKey: Buffer; publicKey: string; path: string };
  /** Built and secret-scanned by `kiln run` before the driver started: what is shipped is what was scanned. */
  prepared: PreparedJob;
  clouds: CloudPool;
  /** The user's own host: never torn down, its run is stopped instead. */
  isHost: boolean;
  /** Providers ruled out for the job (quota, billing, auth), across attempts. */
  blockedProviders: Set<string>;
  mark(name: string): void;
}

/** One attempt in progress: filled in by the steps as they go. */
export interface Attempt {
  job: JobContext;
  id: number;
  n: number;
  offers: CloudOffer[];
  cloud?: Cloud;
  row?: MachineLedgerRecord;
  offer?: CloudOffer;
  running?: MachineRecord & { ssh: NonNullable<MachineRecord["ssh"]> };
  conn?: MachineAccess;
  rp?: RemotePaths;
  steps: Step[];
  runStarted: boolean;
  /** When the client stops the run for the cap (ms since epoch): before the on-machine watchdog would. */
  stopAt?: number;
  /** The on-machine watchdog as started (its store credentials are renewed while the client is here: ./store-renewal.ts). */
  watchdog?: WatchdogSpec;
  outcome?: RunOutcome;
  /** Set by collect: how the attempt ended when every step went through. */
  end?: { state: AttemptState; reason: string };
}

export interface AttemptEnd {
  state: "succeeded" | "stopped" | "failed" | "preempted" | "lost";
  reason: string;
  /** The offer the attempt ran on (none when no launch succeeded). */
  offer?: CloudOffer;
  /** The machine was kept because its outputs could not be saved. */
  machineKept: boolean;
  /** For the job's report: the steps as on the machine and where they ran. */
  report?: { steps: Step[]; remoteJobDir: string; machine: CloudOffer };
}

/** The machine is gone (the provider reclaimed it or lost it): nothing more can be read from it. */
export class MachineGone extends Error {
  constructor(readonly state: "preempted" | "lost", reason: string) {
    super(reason);
  }
}

export const machineGone = (state: "preempted" | "lost", reason: string): Error => new MachineGone(state, reason);

/** The step logs, for `kiln logs` once the machine is gone; best effort (the outputs are what is verified). */
export async function pullLogs(a: Attempt): Promise<void> {
  if (!a.conn || !a.rp) return;
  await pullArtifacts(a.conn, `${a.rp.job}/logs`, a.job.layout.logs, { signal: AbortSignal.timeout(120_000) }).catch((e: unknown) => a.job.o.logger.warn(`step logs not pulled: ${errorMessage(e)}`));
}

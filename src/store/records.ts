/**
 * What the ledger stores, as typed records. Rows are parsed with these schemas on the way out, so a
 * hand-edited or corrupted database fails loudly with the column that is wrong instead of leaking
 * `undefined` into the lifecycle.
 */
import { z } from "zod";

/** A job's lifecycle. Terminal states: succeeded, failed, stopped, interrupted (resumable). */
export const JOB_STATES = ["created", "running", "stopping", "succeeded", "failed", "stopped", "interrupted"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_JOB_STATES: readonly JobState[] = ["succeeded", "failed", "stopped", "interrupted"];
export const isTerminal = (s: JobState): boolean => TERMINAL_JOB_STATES.includes(s);

/** How an attempt ended: `preempted` (the provider reclaimed the machine) and `lost` (it went away or could not be reached) may be followed by a recovery attempt. */
export const ATTEMPT_STATES = ["running", "succeeded", "failed", "stopped", "interrupted", "preempted", "lost"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

const nullableString = z.string().nullable();
const nullableInt = z.number().int().nullable();

export const JobRow = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.string(),
  spec_yaml: z.string(),
  spec_hash: z.string(),
  state: z.enum(JOB_STATES),
  job_dir: z.string(),
  plan_reason: nullableString,
  supervisor_pid: nullableInt,
  workload_pid: nullableInt,
  created_at: z.string(),
  ended_at: nullableString,
});
export type JobRecord = z.infer<typeof JobRow>;

export const AttemptRow = z.object({
  id: z.number().int(),
  job_id: z.string(),
  n: z.number().int(),
  provider: z.string(),
  state: z.enum(ATTEMPT_STATES),
  started_at: z.string(),
  ended_at: nullableString,
  reason: nullableString,
  /** The lifecycle step the attempt is in (or ended in): launch, boot, connect, … (docs/lifecycle.md §4). */
  step: nullableString.default(null),
});
export type AttemptRecord = z.infer<typeof AttemptRow>;

export const MachineRow = z.object({
  id: z.number().int(),
  intent_id: z.string(),
  job_id: nullableString,
  attempt_id: nullableInt,
  provider: z.string(),
  provider_id: nullableString,
  offer_json: z.string(),
  price_per_hour: z.number(),
  state: z.string(),
  created_at: z.string(),
  launched_at: nullableString,
  terminated_at: nullableString,
});
export type MachineLedgerRecord = z.infer<typeof MachineRow>;

export const EventRow = z.object({
  id: z.number().int(),
  ts: z.string(),
  job_id: nullableString,
  attempt_id: nullableInt,
  machine_id: nullableInt,
  kind: z.string(),
  from_state: nullableString,
  to_state: nullableString,
  reason: nullableString,
  data_json: nullableString,
});
export type EventRecord = z.infer<typeof EventRow>;

export const ArtifactRow = z.object({
  id: z.number().int(),
  job_id: z.string(),
  path: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  role: nullableString,
  verified_at: nullableString,
});
export type ArtifactRecord = z.infer<typeof ArtifactRow>;

export const JobLockRow = z.object({
  job_id: z.string(),
  holder: z.string(),
  pid: z.number().int(),
  pid_start: nullableString,
  acquired_at: z.string(),
});
export type JobLockRecord = z.infer<typeof JobLockRow>;

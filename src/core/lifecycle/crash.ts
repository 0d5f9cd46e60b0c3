/**
 * Crash injection for tests: `KILN_CRASH_AT=<point>` makes the cloud driver SIGKILL itself at that
 * lifecycle point, exactly as a power cut or `kill -9` would (no finally blocks, no exit handlers).
 * Reconciliation on the next command must then leave zero orphans and a consistent ledger.
 *
 * `<point>@<n>` crashes the n-th time the point is reached (a relaunch's `after-intent@2`).
 *
 * This is the one place library code ends its own process, on purpose and only when the variable is set.
 */
export const CRASH_POINTS = [
  "after-intent", // intent row committed, launch not called yet
  "after-launch-call", // the provider accepted the launch; the ledger does not know its id yet
  "after-launch-recorded",
  "boot-wait", // waiting for running + IP
  "after-ssh",
  "during-upload", // bundle uploaded, not unpacked
  "after-start", // the run started on the machine
  "during-training",
  "during-pull", // final pull, after the first file
  "before-terminate", // artifacts verified
  "after-terminate-call", // terminate asked, not confirmed
  "after-confirm", // provider says terminated; job not closed yet
  "before-recovery", // an attempt ended preempted or lost (its machine confirmed gone); the next not launched
  "during-restore", // the saved outputs uploaded to the recovery machine, the run not started
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

const reached = new Map<string, number>();

export function crashPoint(name: CrashPoint, env: NodeJS.ProcessEnv = process.env): void {
  const at = env["KILN_CRASH_AT"];
  if (at === undefined || !at.startsWith(name)) return;
  const n = (reached.get(name) ?? 0) + 1;
  reached.set(name, n);
  if (at === name || at === `${name}@${n}`) process.kill(process.pid, "SIGKILL");
}

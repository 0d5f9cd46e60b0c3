/**
 * Crash injection for tests: `KILN_CRASH_AT=<point>` makes the cloud driver SIGKILL itself at that
 * lifecycle point, exactly as a power cut or `kill -9` would (no finally blocks, no exit handlers).
 * Reconciliation on the next command must then leave zero orphans and a consistent ledger.
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
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPoint(name: CrashPoint, env: NodeJS.ProcessEnv = process.env): void {
  if (env["KILN_CRASH_AT"] === name) process.kill(process.pid, "SIGKILL");
}

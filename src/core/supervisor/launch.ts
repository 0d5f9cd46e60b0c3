/**
 * Start a job's supervisor as a detached process: `spawn(node, [entry, jobDir], {detached, stdio:
 * "ignore"})` + unref. detached makes it a session leader (setsid), so Ctrl-C in the terminal and the
 * terminal closing do not reach it, and `kiln` can exit at once.
 *
 * The entry is the compiled `main.js` next to this module. Under a TypeScript runner (tests, dev) there
 * is no main.js beside the .ts source, so the caller passes one (`KILN_SUPERVISOR_ENTRY`, a bundle). We do
 * not fall back to dist/: a stale build there would run old code silently.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KilnError } from "../../base/errors.js";

export function supervisorEntry(override?: string): string {
  if (override) return override;
  const sibling = join(import.meta.dirname, "main.js");
  if (existsSync(sibling)) return sibling;
  throw new KilnError("no_supervisor", "the supervisor is not built (no dist/core/supervisor/main.js); run `npm run build` or use bin/kiln");
}

export function launchSupervisor(jobDir: string, opts: { entry: string; env: NodeJS.ProcessEnv; jobId: string }): number {
  const child = spawn(process.execPath, [opts.entry, jobDir], {
    detached: true,
    stdio: "ignore",
    cwd: jobDir,
    // KILN_JOB_ID marks the process as this job's (see isJobProcess), surviving pid reuse checks.
    env: { ...opts.env, KILN_JOB_ID: opts.jobId },
  });
  child.unref();
  if (child.pid === undefined) throw new KilnError("supervisor_spawn", `could not start the supervisor for ${jobDir}`);
  return child.pid;
}

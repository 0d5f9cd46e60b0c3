/**
 * Removing a job's directory from a machine that outlives the job (the user's own host with provider
 * `ssh`; cloud machines are simply terminated). Deliberately narrow: it only ever deletes a path inside
 * Kiln's own root on the machine (default `kiln/`, relative to the remote home), refuses `..`, absolute
 * paths elsewhere and the root itself, and refuses while a run in that directory is still going.
 */
import { KilnError } from "../../base/errors.js";
import type { Exec } from "../exec.js";
import { runChecked } from "../ssh/run-checked.js";
import { runStatus } from "./run.js";

export const REMOTE_ROOT = "kiln";

export function assertInsideRoot(dir: string, root = REMOTE_ROOT): void {
  const segs = dir.split("/");
  const rootSegs = root.split("/");
  const inside =
    segs.length > rootSegs.length &&
    rootSegs.every((s, i) => segs[i] === s) &&
    segs.slice(rootSegs.length).every((s) => s !== "" && s !== "." && s !== "..");
  if (!inside) throw new KilnError("unsafe-remote-path", `refusing to delete ${JSON.stringify(dir)}: Kiln only deletes directories inside ${root}/ on a machine`);
}

/**
 * Delete `dir` (a job directory under Kiln's remote root). `runDirs` are the persistent runs inside it;
 * any of them still running makes this refuse (stop them first).
 */
export async function removeJobDir(exec: Exec, dir: string, opts: { root?: string; runDirs?: readonly string[] } = {}): Promise<void> {
  assertInsideRoot(dir, opts.root);
  for (const r of opts.runDirs ?? []) {
    const s = await runStatus(exec, r);
    if (s.state === "running") throw new KilnError("run-still-running", `refusing to delete ${dir} on ${exec.where}: the run in ${r} is still running (pid ${s.pid}); stop it first`);
  }
  await runChecked(exec, ["rm", "-rf", "--", dir], { what: "remove the job directory", timeoutMs: 300_000 });
}

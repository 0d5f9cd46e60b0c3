/**
 * Process supervision primitives. Every workload step runs as the leader of its own process group
 * (spawned detached), so one signal to `-pgid` reaches the engine and anything it forked (data-loader
 * workers, shells). Stopping is always "SIGTERM, wait with a deadline, then SIGKILL the group".
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { sleep } from "../../base/deadline.js";

/** Whether `pid` exists (EPERM means it exists but is not ours, which still counts as alive). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether `pid` is a live process of job `jobId`. Pids are reused, so on Linux we check the process's
 * environment for the `KILN_JOB_ID` Kiln gave it; where /proc is not readable we fall back to liveness.
 */
export function isJobProcess(pid: number | null, jobId: string): boolean {
  if (pid === null || pid <= 0 || !isAlive(pid)) return false;
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, "latin1");
  } catch {
    return true;
  }
  // A zombie has an empty environ: it is dead for our purposes.
  return environ.split("\0").includes(`KILN_JOB_ID=${jobId}`);
}

/**
 * The live processes of process group `pgid` that belong to job `jobId` (their environment says so), read
 * from /proc: a group whose leader died may still hold its children, and a group id freed and reused since
 * holds none of the job's. Undefined where /proc cannot be listed (then only the leader can be checked).
 */
export function jobGroupMembers(pgid: number, jobId: string): number[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  return pids.map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      // Field 5 (pgrp), counted from the last ')' as comm may hold spaces.
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === pgid && isJobProcess(pid, jobId);
    } catch {
      return false; // gone meanwhile
    }
  });
}

/**
 * A token for when process `pid` started, so a pid reused by a new process is not taken for the old one:
 * on Linux the start time in clock ticks (/proc/PID/stat field 22), elsewhere `ps -o lstart=`. Undefined
 * when the process is gone or the platform says nothing.
 */
export function processStartToken(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // Field 2 (comm) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] !== undefined ? `linux:${fields[19]}` : undefined;
  } catch {
    // Not Linux, or the process is gone.
  }
  try {
    const out = execFileSync("ps", ["-o", "lstart=", "-p", String(pid)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5_000 }).trim();
    return out ? `ps:${out}` : undefined;
  } catch {
    return undefined;
  }
}

/** Send `sig` to process group `pgid`; false when the group is gone. */
export function signalGroup(pgid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false;
  }
}

const groupAlive = (pgid: number): boolean => signalGroup(pgid, 0 as unknown as NodeJS.Signals);

/**
 * SIGTERM the group, wait up to `graceMs` for it to exit (the engine checkpoints on SIGTERM), then
 * SIGKILL. Returns how it ended. `exited` lets a caller that holds the child handle say it is gone
 * without polling (a zombie child keeps its group "alive" until it is reaped).
 */
export async function stopGroup(pgid: number, graceMs: number, exited: () => boolean = () => false, signal?: AbortSignal): Promise<"gone" | "terminated" | "killed"> {
  if (exited() || !groupAlive(pgid)) return "gone";
  signalGroup(pgid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (exited() || !groupAlive(pgid)) return "terminated";
    await sleep(Math.min(100, Math.max(1, deadline - Date.now())), signal).catch(() => undefined);
    if (signal?.aborted) break;
  }
  if (exited() || !groupAlive(pgid)) return "terminated";
  signalGroup(pgid, "SIGKILL");
  return "killed";
}

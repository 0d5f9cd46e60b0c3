// Which processes are a job's, with pids reused: a process group's members are the job's only when their
// environment carries its KILN_JOB_ID, so a dead driver's group id, reused by a stranger, selects nobody.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { isJobProcess, jobGroupMembers } from "./process.js";

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/** A detached group leader running `sh`, which starts one child in its group, both with `env`. */
function group(env: NodeJS.ProcessEnv): number {
  const child = spawn("sh", ["-c", "sleep 60 & wait"], { detached: true, stdio: "ignore", env: { PATH: process.env["PATH"] ?? "", ...env } });
  started.push(child.pid!);
  return child.pid!;
}

describe.skipIf(!existsSync("/proc/self/stat"))("a job's processes (Linux /proc)", () => {
  it("lists the group's members that carry the job's id, and none for another job or a stranger's group", async () => {
    const leader = group({ KILN_JOB_ID: "j-mine" });
    const members = await pollUntil(async () => {
      const m = jobGroupMembers(leader, "j-mine")!;
      return m.length === 2 ? m : undefined;
    }, { what: "the group's two processes", timeoutMs: 10_000, intervalMs: 50 });
    expect(members).toContain(leader);
    expect(isJobProcess(leader, "j-mine")).toBe(true);
    expect(jobGroupMembers(leader, "j-other")).toEqual([]);
    expect(isJobProcess(leader, "j-other")).toBe(false);
    const stranger = group({});
    expect(jobGroupMembers(stranger, "j-mine")).toEqual([]);
    expect(jobGroupMembers(2 ** 22 + 7, "j-mine")).toEqual([]);
  });
});

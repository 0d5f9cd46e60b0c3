// One recoverer per job: the lock in a real SQLite ledger (a file, shared by two Ledger handles as two
// processes would), with real processes for the liveness and pid-reuse checks.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { Ledger } from "../../store/index.js";
import { processStartToken } from "../supervisor/process.js";
import { isStaleLock, lockJobOrFail, tryLockJob } from "./lock.js";

let dir: string;
let a: Ledger;
let b: Ledger;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-lock-"));
  a = Ledger.open(join(dir, "ledger.db"));
  b = Ledger.open(join(dir, "ledger.db"));
  a.createJob({ id: "j1", name: "one", kind: "sae-pii", specYaml: "name: one\n", jobDir: dir });
});
afterEach(() => {
  a.close();
  b.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (and been reaped). */
const deadPid = (): number => spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout as unknown as number;

describe("job locks", () => {
  it("lets one holder in and tells the others who has it, until it is released", () => {
    const first = tryLockJob(a, "j1", "kiln gc");
    expect(first.ok).toBe(true);
    const second = tryLockJob(b, "j1", "kiln down");
    expect(second).toMatchObject({ ok: false, heldBy: { holder: "kiln gc", pid: process.pid } });
    if (!second.ok) expect(second.why).toMatch(/^kiln gc \(pid \d+\) has been handling it since \d{4}-\d\d-\d\dT/);
    // Not re-entrant: a second recovery in the same process waits its turn too.
    expect(tryLockJob(a, "j1", "kiln status --refresh").ok).toBe(false);
    expect(() => lockJobOrFail(b, "j1", "kiln down")).toThrow(UserError);
    if (first.ok) first.release();
    const third = tryLockJob(b, "j1", "kiln down");
    expect(third.ok).toBe(true);
    expect(a.getJobLock("j1")).toMatchObject({ holder: "kiln down" });
  });

  it("takes over the lock of a holder that died, and records the takeover", () => {
    const pid = Number(deadPid());
    const r = a.acquireJobLock("j1", { holder: "kiln gc", pid }, () => false);
    expect(r.acquired).toBe(true);
    expect(isStaleLock(a.getJobLock("j1")!)).toBe(true);
    const taken = tryLockJob(b, "j1", "kiln down");
    expect(taken).toMatchObject({ ok: true, tookOver: { holder: "kiln gc", pid } });
    expect(a.listEvents("j1", { kind: "lock" }).map((e) => e.reason)).toEqual([`took over the job's lock from kiln gc (pid ${pid}, gone) for kiln down`]);
  });

  it("takes over a lock whose pid now belongs to another process (reused pid: a different start time)", () => {
    a.acquireJobLock("j1", { holder: "the job's driver", pid: process.pid, pidStart: "linux:1" }, () => false);
    expect(processStartToken(process.pid)).not.toBe("linux:1");
    expect(tryLockJob(b, "j1", "kiln down").ok).toBe(true);
  });

  it("a release after a takeover leaves the new holder's lock alone", () => {
    const old = tryLockJob(a, "j1", "kiln gc");
    // Pretend the holder died: the next taker sees a stale lock.
    const next = b.acquireJobLock("j1", { holder: "kiln down", pid: process.pid }, () => true);
    expect(next.acquired).toBe(true);
    if (old.ok) old.release();
    expect(a.getJobLock("j1")).toMatchObject({ holder: "kiln down" });
  });
});

describe("the installation id", () => {
  it("is 8 hex, made once with the ledger and the same for every handle", () => {
    expect(a.installationId()).toMatch(/^[0-9a-f]{8}$/);
    expect(b.installationId()).toBe(a.installationId());
    const other = Ledger.open(join(dir, "other.db"));
    try {
      expect(other.installationId()).not.toBe(a.installationId());
    } finally {
      other.close();
    }
  });
});

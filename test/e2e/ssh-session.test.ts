// Persistent runs and log following against a real sshd: the run survives every SSH connection being
// killed (tmux and setsid alike), status reports the exit code, stop escalates TERM → KILL, and
// followLog resumes after the drop with no gap and no duplicate.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SshConnection } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { followLog, LineSplitter } from "../../src/remote/session/log-follow.js";
import { runStatus, startRun, stopRun } from "../../src/remote/session/run.js";
import { startSshd, sshdAvailable, type TestSshd } from "../helpers/sshd.js";

const hasTmux = existsSync("/usr/bin/tmux");

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("persistent runs", () => {
  let sshd: TestSshd;
  let dir: string;
  let conn: SshConnection;
  const open = () =>
    SshConnection.open(
      { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey },
      { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 10_000 },
    );
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), "kiln-session-"));
    conn = await open();
  });
  afterAll(async () => {
    // Leave no detached test process behind, whichever test failed.
    for (const d of ["r-setsid", "r-tmux", "r-stop", "r-kill", "r-follow"]) await stopRun(conn, d, { graceMs: 200 }).catch(() => undefined);
    conn?.close();
    await sshd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const methods = hasTmux ? (["setsid", "tmux"] as const) : (["setsid"] as const);
  it.each(methods)("a %s run survives all SSH connections dying and reports its exit code", async (method) => {
    const d = `r-${method}`;
    const h = await startRun(conn, { name: `kiln-t-${method}`, dir: d, argv: ["sh", "-c", "sleep 1.5; echo \"done $GREETING\"; exit 4"], env: { GREETING: "hi" }, method });
    expect(h).toMatchObject({ method, started: true, log: `${d}/output.log` });
    expect(await runStatus(conn, d)).toMatchObject({ state: "running" });
    await sshd.dropConnections();
    conn.close();
    conn = await open();
    // Starting again adopts the live run instead of launching a second one.
    expect((await startRun(conn, { name: `kiln-t-${method}`, dir: d, argv: ["false"], method })).started).toBe(false);
    for (let i = 0; i < 60 && (await runStatus(conn, d)).state === "running"; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await runStatus(conn, d)).toEqual({ state: "exited", code: 4 });
    expect(readFileSync(join(sshd.home, d, "output.log"), "utf8")).toBe("done hi\n");
  });

  it("stop sends TERM to the whole process group and records the code", async () => {
    await startRun(conn, { name: "kiln-t-stop", dir: "r-stop", argv: ["sh", "-c", "sleep 100 & sleep 100; wait"], method: "setsid" });
    const pid = Number(readFileSync(join(sshd.home, "r-stop", "pgid"), "utf8"));
    expect(await stopRun(conn, "r-stop", { graceMs: 5000 })).toEqual({ state: "exited", code: 143 });
    expect(() => process.kill(-pid, 0)).toThrow();
  });

  it("stop escalates to SIGKILL when TERM is ignored", async () => {
    await startRun(conn, { name: "kiln-t-kill", dir: "r-kill", argv: ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], method: "setsid" });
    const t0 = Date.now();
    expect(await stopRun(conn, "r-kill", { graceMs: 600, pollMs: 100 })).toEqual({ state: "exited", code: 137 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    expect(await runStatus(conn, "absent-run")).toEqual({ state: "absent" });
  });

  it("followLog resumes after the connection drops, with no gaps and no duplicates", async () => {
    const script = 'i=0; while [ $i -lt 80 ]; do echo "line $i é"; i=$((i+1)); sleep 0.03; done';
    await startRun(conn, { name: "kiln-t-follow", dir: "r-follow", argv: ["sh", "-c", script], method: "setsid" });
    const splitter = new LineSplitter();
    const lines: string[] = [];
    let dropped = false;
    let expectedOffset = 0;
    const before = conn.reconnects;
    for await (const chunk of followLog(conn, "r-follow/output.log", {
      pollMs: 100,
      maxChunkBytes: 64, // small chunks: many polls, so the drop lands mid-stream
      isDone: async () => (await runStatus(conn, "r-follow")).state !== "running",
    })) {
      expect(chunk.offset).toBe(expectedOffset);
      expectedOffset += chunk.data.length;
      lines.push(...splitter.push(chunk.data));
      if (!dropped && lines.length >= 10) {
        dropped = true;
        await sshd.dropConnections();
      }
    }
    expect(splitter.flush()).toBeUndefined();
    expect(lines).toEqual(Array.from({ length: 80 }, (_, i) => `line ${i} é`));
    expect(conn.reconnects).toBeGreaterThan(before);
  });
});

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("removing a job directory", () => {
  it("deletes only inside Kiln's root, never while its run is going", async () => {
    const { removeJobDir, assertInsideRoot } = await import("../../src/remote/session/cleanup.js");
    for (const bad of ["kiln", "kiln/", "kiln/../x", "/etc", "other/j1", "kiln/j1/../../x", ""]) expect(() => assertInsideRoot(bad)).toThrow(/refusing to delete/);
    const s = await startSshd();
    const dir = mkdtempSync(join(tmpdir(), "kiln-cleanup-"));
    const c = await SshConnection.open({ host: s.host, port: s.port, user: s.user, privateKey: s.clientKey }, { knownHosts: new KnownHosts(join(dir, "kh")), timeoutMs: 10_000 });
    try {
      await startRun(c, { name: "kiln-t-cleanup", dir: "kiln/j1/run", argv: ["sleep", "30"], method: "setsid" });
      await expect(removeJobDir(c, "kiln/j1", { runDirs: ["kiln/j1/run"] })).rejects.toMatchObject({ code: "run-still-running" });
      expect(existsSync(join(s.home, "kiln", "j1"))).toBe(true);
      await stopRun(c, "kiln/j1/run", { graceMs: 2000 });
      await removeJobDir(c, "kiln/j1", { runDirs: ["kiln/j1/run"] });
      expect(existsSync(join(s.home, "kiln", "j1"))).toBe(false);
      expect(existsSync(join(s.home, "kiln"))).toBe(true);
    } finally {
      c.close();
      await s.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// SshConnection against a real sshd on loopback: exec with exit codes and tails, argv quoting, env and
// cwd, retries while the server boots late, pinning (a new host key is refused), auth failure fails
// fast, and reconnecting after every connection was killed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KilnError } from "../../src/base/errors.js";
import { startSshd, sshdAvailable, type TestSshd } from "../helpers/sshd.js";
import { SshConnection, type SshTarget } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { runChecked } from "../../src/remote/ssh/run-checked.js";

const targetOf = (s: TestSshd): SshTarget => ({ host: s.host, port: s.port, user: s.user, privateKey: s.clientKey });

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("SshConnection", () => {
  let sshd: TestSshd;
  let dir: string;
  let knownHosts: KnownHosts;
  let conn: SshConnection;
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), "kiln-conn-"));
    knownHosts = new KnownHosts(join(dir, "known_hosts"));
    conn = await SshConnection.open(targetOf(sshd), { knownHosts, timeoutMs: 10_000 });
  });
  afterAll(async () => {
    conn?.close();
    await sshd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs argv with exact quoting, cwd, env and stdin, many commands on one connection", async () => {
    const tricky = `it's "quoted" $HOME; rm -rf /nope \\ *`;
    const r = await conn.run(["printf", "%s|%s|%s", tricky, "", "x y"], {});
    expect(r).toEqual({ code: 0, stdout: `${tricky}||x y`, stderr: "" });
    const e = await conn.run(["sh", "-c", 'pwd; echo "$GREETING"; cat'], { cwd: "/tmp", env: { GREETING: "hi there" }, stdin: "from stdin" });
    expect(e.stdout).toBe("/tmp\nhi there\nfrom stdin");
    const many = await Promise.all(Array.from({ length: 12 }, (_, i) => conn.run(["echo", String(i)])));
    expect(many.map((m) => m.stdout.trim())).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    expect(conn.reconnects).toBe(0);
  });

  it("returns non-zero exit codes as data; runChecked attaches code and tails", async () => {
    expect((await conn.run(["sh", "-c", "echo out; echo err >&2; exit 7"])).code).toBe(7);
    expect((await conn.run(["definitely-not-a-command-kiln"])).code).toBe(127);
    const err = await runChecked(conn, ["sh", "-c", "for i in $(seq 1 100); do echo line$i; done >&2; exit 3"], { what: "install the workload" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    const k = err as KilnError;
    expect(k.code).toBe("remote-command-failed");
    expect(k.message).toMatch(/^install the workload: `sh -c .*` exited with code 3 on /);
    expect(k.details["exitCode"]).toBe(3);
    expect(String(k.details["stderrTail"]).split("\n")).toHaveLength(40);
    expect(String(k.details["stderrTail"])).toMatch(/line100$/);
  });

  it("enforces a per-command deadline and abort, and the connection stays usable", async () => {
    // Whether the remote command is killed too is best effort (see sendSignal): sshd refuses signal
    // requests for root logins and ForceCommand sessions, which is what this harness has.
    await expect(conn.run(["sleep", "30"], { timeoutMs: 300 })).rejects.toMatchObject({ code: "deadline" });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await expect(conn.run(["sleep", "30"], { signal: ac.signal })).rejects.toMatchObject({ code: "aborted" });
    expect((await conn.run(["echo", "still here"])).stdout).toBe("still here\n");
  });

  it("reconnects after every connection was killed; a command in flight fails with ssh-disconnected", async () => {
    const inflight = conn.run(["sleep", "3"]).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    expect(await sshd.dropConnections()).toBeGreaterThan(0);
    expect(await inflight).toMatchObject({ code: "ssh-disconnected" });
    const r = await conn.run(["echo", "back"]);
    expect(r.stdout).toBe("back\n");
    expect(conn.reconnects).toBe(1);
  });

  it("a command queued behind busy channels stops at its abort, and hands its slot on when one frees", async () => {
    // 8 channels per connection: fill them, queue a ninth with an abort, then check every slot came back.
    const busy = Array.from({ length: 8 }, () => conn.run(["sleep", "1"]));
    const ac = new AbortController();
    const queued = conn.run(["echo", "never"], { signal: ac.signal }).catch((e: unknown) => e);
    ac.abort();
    expect(await queued).toMatchObject({ code: "aborted" });
    expect((await Promise.all(busy)).map((r) => r.code)).toEqual(Array(8).fill(0));
    const again = await Promise.all(Array.from({ length: 9 }, (_, i) => conn.run(["echo", String(i)])));
    expect(again.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 9 }, (_, i) => String(i)));
  });

  it("a command waiting on a reconnect to a server that is gone stops at its abort, not at the reconnect deadline", async () => {
    const s = await startSshd();
    const c = await SshConnection.open(targetOf(s), { knownHosts, timeoutMs: 10_000, reconnectTimeoutMs: 120_000 });
    try {
      // The machine goes away with its connections (cleanup stops the listener and drops them).
      await s.cleanup();
      // The reconnect retries for up to 120 s; the caller's signal ends the wait.
      const err = await c.run(["true"], { signal: AbortSignal.timeout(500) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "aborted" });
      const sftpErr = await c.sftp(AbortSignal.timeout(500)).catch((e: unknown) => e);
      expect(sftpErr).toMatchObject({ code: "aborted" });
    } finally {
      c.close();
    }
  });

  it("retries until an sshd that starts late accepts", async () => {
    const late = await startSshd({ deferStart: true });
    try {
      const t0 = Date.now();
      const starting = SshConnection.open(targetOf(late), { knownHosts, timeoutMs: 15_000 });
      await new Promise((r) => setTimeout(r, 1500));
      await late.start();
      const c = await starting;
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
      expect((await c.run(["echo", "ok"])).stdout).toBe("ok\n");
      c.close();
    } finally {
      await late.cleanup();
    }
  });

  it("gives up at the deadline when nothing listens", async () => {
    const never = await startSshd({ deferStart: true });
    try {
      await expect(SshConnection.open(targetOf(never), { knownHosts, timeoutMs: 1200 })).rejects.toMatchObject({ code: "deadline" });
    } finally {
      await never.cleanup();
    }
  });

  it("fails fast on a key the server does not accept", async () => {
    const other = await startSshd();
    try {
      const t0 = Date.now();
      const err = await SshConnection.open({ ...targetOf(other), privateKey: sshd.clientKey }, { knownHosts, timeoutMs: 20_000 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "ssh-auth-failed" });
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await other.cleanup();
    }
  });

  it("refuses a changed host key with host-key-changed, and accepts it only after the pin is forgotten", async () => {
    const s = await startSshd();
    try {
      const first = await SshConnection.open(targetOf(s), { knownHosts, timeoutMs: 10_000, reconnectTimeoutMs: 3000 });
      first.close();
      await s.restart({ newHostKey: true });
      const err = await SshConnection.open(targetOf(s), { knownHosts, timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KilnError);
      expect((err as KilnError).code).toBe("host-key-changed");
      expect((err as KilnError).message).toContain(`kiln ssh --forget-host [127.0.0.1]:${s.port}`);
      expect(knownHosts.forget(`[127.0.0.1]:${s.port}`)).toBe(true);
      const again = await SshConnection.open(targetOf(s), { knownHosts, timeoutMs: 10_000 });
      expect((await again.run(["true"])).code).toBe(0);
      again.close();
    } finally {
      await s.cleanup();
    }
  });
});

// startRun against this machine's own shell (the same sh scripts run over SSH in test/e2e/ssh-session):
// a start that never writes its pid file fails at the deadline with run-start-failed, not a hang.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KilnError } from "../../base/errors.js";
import { type Exec, localExec } from "../exec.js";
import { runStatus, startRun, stopRun } from "./run.js";

const dir = () => join(mkdtempSync(join(tmpdir(), "kiln-run-")), "run");

describe("startRun", () => {
  it("starts a detached run and sees its pid, then its exit code", async () => {
    const d = dir();
    const h = await startRun(localExec, { name: "ok", dir: d, argv: ["sh", "-c", "exit 3"], method: "setsid" });
    expect(h).toMatchObject({ started: true, method: "setsid" });
    await expect.poll(() => runStatus(localExec, d), { timeout: 10_000 }).toEqual({ state: "exited", code: 3 });
    expect(await stopRun(localExec, d)).toEqual({ state: "exited", code: 3 });
  });

  it("fails with run-start-failed at the deadline when the machine accepts the start but nothing runs", async () => {
    // The edge fake: the start command "succeeds" without starting anything (a noexec mount, a shell
    // that drops background jobs); every other command runs for real.
    const swallowStart: Exec = {
      where: "local (start swallowed)",
      run: (argv, opts) => (argv[2]?.includes("setsid nohup") ? Promise.resolve({ code: 0, stdout: "", stderr: "" }) : localExec.run(argv, opts)),
    };
    const t0 = Date.now();
    const e = await startRun(swallowStart, { name: "stuck", dir: dir(), argv: ["true"], method: "setsid" }, { startTimeoutMs: 400 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(KilnError);
    expect(e).toMatchObject({ code: "run-start-failed", message: "the run stuck did not start on local (start swallowed) (no pid file after 400 ms)" });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});

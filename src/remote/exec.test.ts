// localExec on this machine's own processes: exit codes are data; a deadline or the caller's abort
// (also one that fired before the call) kills the command and rejects with a typed error at once.
import { describe, expect, it } from "vitest";
import { AbortedError, DeadlineError } from "../base/errors.js";
import { localExec, shellJoin } from "./exec.js";

describe("localExec", () => {
  it("returns exit code, output and stdin round-trip; a missing command is 127", async () => {
    expect(await localExec.run(["sh", "-c", 'cat; echo err >&2; exit 7'], { stdin: "in" })).toEqual({ code: 7, stdout: "in", stderr: "err\n" });
    expect((await localExec.run(["kiln-no-such-command"])).code).toBe(127);
  });

  it("kills a command at its deadline", async () => {
    const t0 = Date.now();
    await expect(localExec.run(["sleep", "30"], { timeoutMs: 200 })).rejects.toBeInstanceOf(DeadlineError);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("stops on the caller's abort, mid-run or already fired", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("Ctrl-C")), 100);
    await expect(localExec.run(["sleep", "30"], { signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
    const t0 = Date.now();
    await expect(localExec.run(["sleep", "30"], { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("quotes argv for a shell, so values are never interpreted", async () => {
    const evil = ["a b", "it's", "$(touch /tmp/kiln-pwned)", "", "ok"];
    const r = await localExec.run(["sh", "-c", `printf '%s|' ${shellJoin(evil)}`]);
    expect(r.stdout).toBe("a b|it's|$(touch /tmp/kiln-pwned)||ok|");
  });
});

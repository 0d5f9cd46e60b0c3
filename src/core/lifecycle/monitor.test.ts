// The monitor when SSH to a machine hangs: the provider, asked alongside, ends the tick and the run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AbortedError } from "../../base/errors.js";
import type { MachineAccess } from "../../remote/access.js";
import type { ExecOptions, ExecResult } from "../../remote/exec.js";
import type { Provider } from "../../providers/provider.js";
import { monitorRun } from "./monitor.js";
import { monitoredMachine, silentAccess } from "./testing/monitored-machine.js";

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const dir = mkdtempSync(join(tmpdir(), "kiln-monitor-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A machine whose every command hangs until the caller aborts it (a reconnect to an address that no longer answers). */
function hangingAccess(calls: string[]): MachineAccess {
  const hang = (argv: readonly string[], opts: ExecOptions = {}) =>
    new Promise<never>((_, reject) => {
      calls.push(argv[0] ?? "");
      const label = argv.join(" ");
      if (opts.signal?.aborted) return reject(new AbortedError(label));
      opts.signal?.addEventListener("abort", () => reject(new AbortedError(label)), { once: true });
    });
  return {
    where: "hanging",
    alias: "hanging",
    run: (argv, opts) => hang(argv, opts) as Promise<ExecResult>,
    runBuffer: (argv, opts) => hang(argv, opts),
    upload: () => Promise.reject(new Error("not used")),
    download: () => Promise.reject(new Error("not used")),
    close: () => undefined,
  } as MachineAccess;
}

describe("monitorRun with SSH hanging", () => {
  it("a machine the provider calls terminated ends the run while SSH still hangs, not at the tick's deadline", async () => {
    const m = monitoredMachine(dir, "hanging", "lambda", "m-1", "active");
    try {
      let asked = 0;
      // Running at the tick's start, gone from the second question on: only a check made during the tick sees it.
      const provider = {
        name: "lambda",
        describe: async (id: string) => (++asked === 1 ? { id, state: "running", providerState: "active" } : { id, state: "terminated", providerState: "terminated" }),
      } as unknown as Provider;
      const calls: string[] = [];
      // A tick's own deadline is at least 30 s, the run as a whole has no end: the outcome must come from the
      // provider, asked every 250 ms.
      const outcome = await monitorRun(m.options({ conn: hangingAccess(calls), provider: { provider, id: "m-1", everyMs: 250 } }));
      expect(outcome).toEqual({ kind: "lost", reason: "lambda says m-1 is terminated", gone: true });
      expect(asked).toBe(2);
      // The status check was under way (and hanging) when the provider's answer ended the tick.
      expect(calls).toEqual(["sh"]);
    } finally {
      m.ledger.close();
    }
  }, 25_000);
});

describe("monitorRun when an SSH request never settles, abort or not", () => {
  it("the provider calling the machine gone still ends the run", async () => {
    const m = monitoredMachine(dir, "never", "runpod", "p-1", "RUNNING");
    try {
      let asked = 0;
      const provider = {
        name: "runpod",
        describe: async (id: string) => (++asked === 1 ? { id, state: "running", providerState: "RUNNING" } : { id, state: "stopped", providerState: "EXITED", reclaimed: { reason: "status EXITED" } }),
      } as unknown as Provider;
      let calls = 0;
      // Every request is accepted and never answered, and the abort is not heard: only the monitor's own race ends the wait.
      const outcome = await monitorRun(m.options({ conn: silentAccess(() => calls++), provider: { provider, id: "p-1", everyMs: 250 } }));
      expect(outcome).toEqual({ kind: "preempted", reason: "runpod reclaimed p-1 (status EXITED)", gone: true });
      expect(calls).toBe(1);
    } finally {
      m.ledger.close();
    }
  }, 25_000);

  it("upkeep that never settles (onTick) is inside the tick's race too, and is not started again while it hangs", async () => {
    const m = monitoredMachine(dir, "upkeep", "runpod", "p-2", "RUNNING");
    try {
      let asked = 0;
      const provider = {
        name: "runpod",
        describe: async (id: string) => (++asked < 4 ? { id, state: "running", providerState: "RUNNING" } : { id, state: "stopped", providerState: "EXITED", reclaimed: { reason: "status EXITED" } }),
      } as unknown as Provider;
      // SSH answers: the run is running and has written nothing yet.
      const conn = {
        where: "answering",
        alias: "answering",
        run: async () => ({ code: 0, stdout: "running 4242\n", stderr: "" }),
        runBuffer: async () => ({ code: 3, stdout: Buffer.alloc(0), stderr: "" }),
        close: () => undefined,
      } as unknown as MachineAccess;
      let upkeep = 0;
      const outcome = await monitorRun(
        m.options({ conn, tickMs: 300, provider: { provider, id: "p-2", everyMs: 250 }, onTick: () => new Promise<void>(() => void upkeep++) }),
      );
      expect(outcome).toEqual({ kind: "preempted", reason: "runpod reclaimed p-2 (status EXITED)", gone: true });
      // Several ticks ran out (300 ms each) while the provider still said running; the upkeep was started once.
      expect(asked).toBe(4);
      expect(upkeep).toBe(1);
    } finally {
      m.ledger.close();
    }
  }, 25_000);

  it("with nothing else alive in the process, the tick's deadline keeps it running until the machine is written off", () => {
    // The driver once exited with code 0 mid-job this way: its tick deadline was an AbortSignal.timeout, which
    // does not keep Node's event loop alive, and the only other pending work was an SSH request ssh2 never answered.
    const work = mkdtempSync(join(tmpdir(), "kiln-monitor-stall-"));
    try {
      const r = spawnSync(join(ROOT, "node_modules", ".bin", "vite-node"), [join(import.meta.dirname, "testing", "stalled-monitor.ts"), work], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "null")).toEqual({ kind: "lost", reason: "unreachable over SSH for 1 s" });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 150_000);
});

// The monitor when SSH to a machine hangs: the provider, asked alongside, ends the tick and the run.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AbortedError } from "../../base/errors.js";
import { nullLogger } from "../../base/logger.js";
import type { MachineAccess } from "../../remote/access.js";
import type { ExecOptions, ExecResult } from "../../remote/exec.js";
import type { Provider } from "../../providers/provider.js";
import { Ledger } from "../../store/index.js";
import { monitorRun } from "./monitor.js";

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
    const ledger = Ledger.open(join(dir, "ledger.db"));
    try {
      ledger.createJob({ id: "j", name: "j", kind: "sae-pii", specYaml: "", jobDir: dir });
      const attempt = ledger.startAttempt("j", "lambda");
      const row = ledger.recordMachineIntent({ intentId: "i-j", jobId: "j", attemptId: attempt.id, provider: "lambda", offer: {}, pricePerHour: 1 });
      ledger.markMachineLaunched(row.id, "m-1", "active");
      let asked = 0;
      // Running at the tick's start, gone from the second question on: only a check made during the tick sees it.
      const provider = {
        name: "lambda",
        describe: async (id: string) => (++asked === 1 ? { id, state: "running", providerState: "active" } : { id, state: "terminated", providerState: "terminated" }),
      } as unknown as Provider;
      const calls: string[] = [];
      const run = new AbortController();
      const outcome = await monitorRun({
        conn: hangingAccess(calls),
        ledger,
        jobId: "j",
        machineRowId: row.id,
        runDir: "/nowhere/run",
        remoteOutputs: "/nowhere/outputs",
        localOutputs: join(dir, "outputs"),
        progressFile: join(dir, "progress.txt"),
        budget: { maxUsd: 100, alertFractions: [] },
        // A tick's own deadline is at least 30 s; the provider is asked every 250 ms.
        pollMs: 100,
        syncIntervalMs: 600_000,
        teardownReserveMs: 0,
        provider: { provider, id: "m-1", everyMs: 250 },
        // The run as a whole is given far longer than a tick: the outcome must come from the provider.
        signal: run.signal,
        logger: nullLogger,
      });
      expect(outcome).toEqual({ kind: "lost", reason: "lambda says m-1 is terminated", gone: true });
      expect(asked).toBe(2);
      // The status check was under way (and hanging) when the provider's answer ended the tick.
      expect(calls).toEqual(["sh"]);
    } finally {
      ledger.close();
    }
  }, 25_000);
});

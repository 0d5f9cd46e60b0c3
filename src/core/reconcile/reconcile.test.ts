// Reconciliation closes a machine its provider says is gone. One that its watchdog ended at the cap while no
// client was here is charged up to the watchdog's deadline (plus a minute's margin), not up to whenever a
// client next looks: the ledger's cost is the billed time, not the time the laptop was asleep.
import { describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import type { MachineRecord, Provider } from "../../providers/provider.js";
import { Ledger } from "../../store/index.js";
import { reconcileProvider } from "./reconcile.js";

// Six hours ago: the ledger stamps with the real clock, so "the client returns" is now.
const T0 = Date.now() - 6 * 3_600_000;
const gone = { name: "emu", listMachines: async () => [], describe: async (id: string): Promise<MachineRecord> => ({ id, state: "terminated", providerState: "terminated" }) as MachineRecord } as unknown as Provider;

function jobWithMachine(deadlineAt: string | undefined): { ledger: Ledger; rowId: number } {
  const ledger = Ledger.open(":memory:");
  ledger.createJob({ id: "j1", name: "j", kind: "command", specYaml: "x", jobDir: "/tmp/none" });
  const a = ledger.startAttempt("j1", "emu");
  const m = ledger.recordMachineIntent({ intentId: "i1", jobId: "j1", attemptId: a.id, provider: "emu", offer: {}, pricePerHour: 3.6 });
  ledger.markMachineLaunched(m.id, "vm-1", "running", new Date(T0).toISOString());
  ledger.addEvent({ jobId: "j1", attemptId: a.id, machineId: m.id, kind: "run_started", reason: "run and watchdog started", ...(deadlineAt && { data: { watchdogDeadlineAt: deadlineAt } }) });
  return { ledger, rowId: m.id };
}

const reconcileAt = (ledger: Ledger, nowMs: number) =>
  reconcileProvider({ ledger, provider: gone, signal: AbortSignal.timeout(10_000), logger: nullLogger, terminate: { pollMs: 10, timeoutMs: 1_000 }, mode: "act", holder: "test", now: () => nowMs });

describe("reconcile: a machine found gone", () => {
  it("is charged up to its watchdog's deadline (+1 min), not up to the client's return hours later", async () => {
    const { ledger, rowId } = jobWithMachine(new Date(T0 + 600_000).toISOString());
    await reconcileAt(ledger, Date.now());
    const row = ledger.getMachine(rowId)!;
    expect(row.state).toBe("terminated");
    expect(row.terminated_at).toBe(new Date(T0 + 660_000).toISOString());
    expect(ledger.listEvents("j1").find((e) => e.to_state === "terminated")?.reason).toMatch(/charged up to its watchdog's deadline/);
  });

  it("with no watchdog deadline, or one not yet passed, is closed at the time it was found gone", async () => {
    for (const deadline of [undefined, new Date(Date.now() + 3_600_000).toISOString()]) {
      const { ledger, rowId } = jobWithMachine(deadline);
      await reconcileAt(ledger, Date.now());
      const row = ledger.getMachine(rowId)!;
      expect(row.state).toBe("terminated");
      expect(ledger.listEvents("j1").find((e) => e.to_state === "terminated")?.reason).not.toMatch(/watchdog's deadline/);
      expect(Date.parse(row.terminated_at!)).toBeGreaterThan(T0 + 660_000);
    }
  });
});

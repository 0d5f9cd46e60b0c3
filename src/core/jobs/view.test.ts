// A job's view across attempts: each attempt with how it ended and what its machines cost, and how many
// recoveries there were; the job's cost is the sum over every attempt's machines.
import { describe, expect, it } from "vitest";
import { Ledger } from "../../store/index.js";
import { jobView } from "./view.js";

describe("jobView", () => {
  it("shows attempts with their cost and counts recoveries", () => {
    let t = Date.parse("2026-12-04T10:00:00Z");
    const ledger = Ledger.open(":memory:", { clock: () => new Date(t).toISOString() });
    ledger.createJob({ id: "j", name: "spot", kind: "sae-pii", specYaml: "", jobDir: "/nonexistent/j" });
    const a1 = ledger.startAttempt("j", "toy");
    const m1 = ledger.recordMachineIntent({ intentId: "i1", jobId: "j", attemptId: a1.id, provider: "toy", offer: {}, pricePerHour: 2 });
    ledger.markMachineLaunched(m1.id, "toy-1", "up");
    t += 1_800_000; // half an hour at $2/h
    ledger.markMachineTerminated(m1.id, "reclaimed");
    ledger.endAttempt(a1.id, "preempted", "toy reclaimed toy-1");
    const a2 = ledger.startAttempt("j", "toy");
    const m2 = ledger.recordMachineIntent({ intentId: "i2", jobId: "j", attemptId: a2.id, provider: "toy", offer: {}, pricePerHour: 1 });
    ledger.markMachineLaunched(m2.id, "toy-2", "up");
    t += 3_600_000; // an hour at $1/h, still running
    const v = jobView(ledger, "/nonexistent", ledger.getJob("j")!, t);
    expect(v.attempts.map((a) => [a.n, a.state, a.costUsd, a.reason])).toEqual([
      [1, "preempted", 1, "toy reclaimed toy-1"],
      [2, "running", 1, null],
    ]);
    expect(v.recoveryCount).toBe(1);
    expect(v.costUsd).toBe(2);
  });
});

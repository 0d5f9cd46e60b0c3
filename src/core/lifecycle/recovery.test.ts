import { describe, expect, it } from "vitest";
import { Ledger } from "../../store/index.js";
import { capSecondsLeft } from "./cap.js";
import type { CloudOffer } from "./cloud-file.js";
import { recoveryDecision, recoveryOrder } from "./recovery.js";

const offer = (provider: string, instanceType: string, region: string, price: number): CloudOffer => ({ provider, instanceType, gpu: "A100-40GB", gpuCount: 1, vramGb: 40, region, pricePerHour: price, spot: false, priceSource: "live", priceDate: "2026-12-04" });

describe("recoveryOrder (EAGER_NEXT_REGION)", () => {
  const offers = [offer("lambda", "a100", "us-east-1", 1.29), offer("lambda", "a100", "us-west-1", 1.29), offer("lambda", "h100", "us-east-1", 2.49), offer("other", "a100", "eu-1", 1.5)];

  it("tries the same machine type in the other regions first, then the rest by expected cost, and the region that lost the machine last", () => {
    const order = recoveryOrder(offers, offers[0], new Set());
    expect(order.map((o) => `${o.provider}/${o.instanceType}@${o.region}`)).toEqual(["lambda/a100@us-west-1", "lambda/h100@us-east-1", "other/a100@eu-1", "lambda/a100@us-east-1"]);
  });

  it("leaves out providers ruled out for the job", () => {
    expect(recoveryOrder(offers, offers[0], new Set(["lambda"])).map((o) => o.provider)).toEqual(["other"]);
  });

  it("keeps the planned order when the attempt never launched", () => {
    expect(recoveryOrder(offers, undefined, new Set())).toEqual(offers);
  });
});

describe("recoveryDecision", () => {
  it("recovers a preempted or lost machine while restarts are left", () => {
    expect(recoveryDecision({ state: "preempted", machineKept: false }, 0, 3, false)).toEqual({ recover: true, why: "restart 1 of at most 3" });
    expect(recoveryDecision({ state: "lost", machineKept: false }, 2, 3, false).recover).toBe(true);
  });

  it.each([
    [{ state: "lost" as const, machineKept: false }, 3, 3, false, "max_restarts (3) reached"],
    [{ state: "failed" as const, machineKept: false }, 0, 3, false, "the attempt ended failed"],
    [{ state: "preempted" as const, machineKept: false }, 0, 3, true, "a stop was requested"],
    [{ state: "lost" as const, machineKept: true }, 0, 3, false, "the machine was kept: its outputs are not saved yet"],
  ])("does not recover %o (restarts used %i of %i, stop %s): %s", (end, used, max, stop, why) => {
    expect(recoveryDecision(end, used, max, stop)).toEqual({ recover: false, why });
  });
});

describe("capSecondsLeft", () => {
  it("counts the job's earlier machines against the cap, in dollars and in hours, from the launch time (no boot allowance)", () => {
    const ledger = Ledger.open(":memory:");
    ledger.createJob({ id: "j", name: "j", kind: "sae-pii", specYaml: "", jobDir: "/tmp/j" });
    const a = ledger.startAttempt("j", "lambda");
    const t0 = Date.parse("2026-12-04T10:00:00Z");
    const first = ledger.recordMachineIntent({ intentId: "i1", jobId: "j", attemptId: a.id, provider: "lambda", offer: {}, pricePerHour: 2 });
    ledger.markMachineLaunched(first.id, "m1", "active", new Date(t0).toISOString());
    ledger.markMachineTerminated(first.id, "reclaimed");
    const second = ledger.recordMachineIntent({ intentId: "i2", jobId: "j", attemptId: a.id, provider: "lambda", offer: {}, pricePerHour: 2 });
    const launched = Date.now() - 60_000;
    ledger.markMachineLaunched(second.id, "m2", "active", new Date(launched).toISOString());
    const firstCost = (2 * (Date.parse(ledger.getMachine(first.id)!.terminated_at!) - t0)) / 3_600_000;
    const now = Date.now();
    const left = capSecondsLeft(ledger, { jobId: "j", budget: { maxUsd: firstCost + 1, alertFractions: [] }, pollMs: 10_000 }, second.id, now);
    // $1 left at $2/h is 1800 s, less the 60 s it has run and one polling interval.
    expect(left).toBeCloseTo(1800 - (now - launched) / 1000 - 10, 3);
    const firstHours = (Date.parse(ledger.getMachine(first.id)!.terminated_at!) - t0) / 3_600_000;
    const byHours = capSecondsLeft(ledger, { jobId: "j", budget: { maxUsd: 1e6, maxHours: firstHours + 0.5, alertFractions: [] }, pollMs: 10_000 }, second.id, now);
    expect(byHours).toBeCloseTo(1800 - (now - launched) / 1000 - 10, 3);
  });
});

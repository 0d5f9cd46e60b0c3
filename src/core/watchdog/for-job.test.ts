// The watchdog's deadline from a job: the cap counts billed time from the provider's launch time (no boot
// allowance), and the deadline leaves room for the grace, the push and the end of billing inside the cap.
import { describe, expect, it } from "vitest";
import { KilnError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { DEFAULT_PUSH_ALLOWANCE_S, DEFAULT_RETRIEVAL_ALLOWANCE_S, END_BILLING_ALLOWANCE_S, secondsUntilCap, watchdogForJob } from "./for-job.js";
import { parseCapOutcome } from "./outcome.js";

const budget = (b: object) => jobSpecSchema.shape.budget.parse(b);

describe("secondsUntilCap", () => {
  it("counts from the provider's launch time: boot time is billed time, not added to the clock", () => {
    // $2/h, $1 cap: 1800 s of billed time; launched 600 s ago (booting all of it) leaves 1200 s.
    expect(secondsUntilCap({ budget: budget({ max_usd: 1 }), capPricePerHour: 2, launchedAtMs: 0, nowMs: 600_000 })).toEqual({ seconds: 1200, binding: "usd" });
    expect(secondsUntilCap({ budget: budget({ max_usd: 100, max_hours: 0.5 }), capPricePerHour: 2, launchedAtMs: 0, nowMs: 600_000 })).toEqual({ seconds: 1200, binding: "hours" });
  });

  it("subtracts what earlier machines of the job used, and never goes below zero", () => {
    expect(secondsUntilCap({ budget: budget({ max_usd: 1 }), capPricePerHour: 2, launchedAtMs: 0, nowMs: 0, spentBeforeUsd: 0.5 }).seconds).toBe(900);
    expect(secondsUntilCap({ budget: budget({ max_usd: 1 }), capPricePerHour: 2, launchedAtMs: 0, nowMs: 9_999_000 }).seconds).toBe(0);
  });
});

describe("watchdogForJob", () => {
  const base = { jobId: "j-1", runDir: "r", watchdogDir: "w", outputsDir: "o", graceS: 60 };
  const END = { script: "#!/bin/sh\n", args: [], files: [] };
  it("fires early enough for grace, push and end of billing to fit inside the cap", () => {
    const spec = jobSpecSchema.parse({ name: "j", budget: { max_usd: 5 }, workload: { type: "command", run: ["true"] }, artifacts: { store: { url: "s3://bkt/runs" } } });
    const credentials = { kind: "s3" as const, accessKeyId: "AKIA", secretAccessKey: new Secret("s"), scope: "as-given" as const };
    const w = watchdogForJob({ ...base, spec, secondsUntilCap: 3600, endBilling: END, capabilities: { apiTerminate: "full-account" }, storeCredentials: credentials });
    expect(w.remainingS).toBe(3600 - 60 - DEFAULT_PUSH_ALLOWANCE_S - END_BILLING_ALLOWANCE_S);
    expect(w).toMatchObject({ whenNotDurable: "keep-machine", push: { outputsDir: "o", timeoutS: DEFAULT_PUSH_ALLOWANCE_S, config: { location: { keyPrefix: "runs/j-1" } } } });
  });

  it("with a Lambda file system: pushes to the mount, and keeps the retrieval machine's minutes inside the cap too", () => {
    const spec = jobSpecSchema.parse({ name: "j", budget: { max_usd: 5 }, workload: { type: "command", run: ["true"] }, artifacts: { store: { url: "lambda-fs://kiln-outputs/runs" } } });
    const w = watchdogForJob({ ...base, spec, secondsUntilCap: 3600, endBilling: END, capabilities: { apiTerminate: "full-account" }, storeCredentials: { kind: "volume-mount" } });
    expect(w.remainingS).toBe(3600 - 60 - DEFAULT_PUSH_ALLOWANCE_S - DEFAULT_RETRIEVAL_ALLOWANCE_S - END_BILLING_ALLOWANCE_S);
    expect(w.push?.config.location).toMatchObject({ kind: "lambda-fs", mountPoint: "/lambda/nfs/kiln-outputs", keyPrefix: "runs/j-1" });
  });

  it("ends billing by shutdown where the cloud terminates on shutdown, with no credential on the machine", () => {
    const spec = jobSpecSchema.parse({ name: "j", budget: { max_usd: 5 }, workload: { type: "command", run: ["true"] } });
    const w = watchdogForJob({ ...base, spec, secondsUntilCap: 600, capabilities: { cloudSideStop: "shutdown-terminates" } });
    expect(w.whenNotDurable).toBe("end-billing");
    expect(w.endBilling?.script).toMatch(/shutdown -h now/);
    expect(w.endBilling?.files).toEqual([]);
  });
});

describe("parseCapOutcome", () => {
  it("summarises the events, and refuses lines it does not know", () => {
    const o = parseCapOutcome("1\tdeadline\treached\tx\n2\tcheckpoint\texited\tafter 1 s\n3\tpush\tverified\tp\n4\tbilling\tended\te\n", '{"ok": true, "startedAt": "t", "files": 2}', "here");
    expect(o).toMatchObject({ reached: true, outputs: "durable", billing: "ended", push: { ok: true, files: 2 } });
    expect(parseCapOutcome("", "", "here")).toMatchObject({ reached: false, outputs: "unknown", billing: "pending" });
    expect(() => parseCapOutcome("1\trm -rf\tok\t\n", "", "here")).toThrow(KilnError);
    expect(() => parseCapOutcome("", "{not json", "here")).toThrow(KilnError);
  });
});

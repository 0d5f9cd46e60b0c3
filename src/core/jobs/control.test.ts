import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Ledger } from "../../store/index.js";
import { reconcileJobs } from "./control.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-control-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A pid that cannot be alive: the supervisor of both jobs below is "dead".
const DEAD_PID = 2 ** 22 + 12345;

describe("reconcileJobs (local supervisors)", () => {
  it("marks a local job whose supervisor died interrupted and releases its local machine", () => {
    const l = Ledger.open(":memory:");
    l.createJob({ id: "loc", name: "loc", kind: "sae-pii", specYaml: "name: loc\n", jobDir: join(dir, "loc") });
    l.setProcesses("loc", { supervisorPid: DEAD_PID });
    l.transitionJob("loc", "running", "started");
    const m = l.recordMachineIntent({ intentId: "i-loc", jobId: "loc", attemptId: null, provider: "local", offer: {}, pricePerHour: 0 });
    expect(reconcileJobs(l)).toEqual(["loc"]);
    expect(l.getJob("loc")?.state).toBe("interrupted");
    expect(l.listMachines("loc").find((x) => x.id === m.id)?.state).toBe("terminated");
  });

  it("never closes a cloud job's machine: only the cloud reconciliation, which asks the provider, may", () => {
    const l = Ledger.open(":memory:");
    l.createJob({ id: "cl", name: "cl", kind: "sae-pii", specYaml: "name: cl\n", jobDir: join(dir, "cl") });
    l.setProcesses("cl", { supervisorPid: DEAD_PID });
    l.transitionJob("cl", "running", "started");
    l.recordMachineIntent({ intentId: "i-cl", jobId: "cl", attemptId: null, provider: "lambda", offer: {}, pricePerHour: 1.29 });
    expect(reconcileJobs(l)).toEqual([]);
    expect(l.getJob("cl")?.state).toBe("running");
    expect(l.listMachines("cl")[0]?.state).not.toBe("terminated");
  });
});

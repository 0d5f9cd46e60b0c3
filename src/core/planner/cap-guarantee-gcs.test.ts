// What `kiln plan` says holds at the cap with no client when the durable store is GCS: the machine holds two
// upload sessions (one per object of the job's archive) and no token; they last a week, renewed only while a
// client is online, so the plan states that reach and life, and warns only when the cap can be further away.
import { describe, expect, it } from "vitest";
import { jobSpecSchema } from "../spec/job-spec.js";
import { capGuarantee } from "./cap-guarantee.js";

const SHUTDOWN_CLOUD = { kind: "cloud" as const, title: "ShutdownCloud", cap: { cloudSideStop: "shutdown-terminates" as const } };

const spec = (budget: Record<string, unknown> = {}) =>
  jobSpecSchema.parse({
    name: "j",
    resources: { providers: ["lambda"], min_vram_gb: 10 },
    budget: { max_usd: 10, ...budget },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: "gs://kiln-bkt/runs" } },
  });

describe("capGuarantee with a gs:// store", () => {
  it("states the sessions' reach and week, and warns when the cap may be more than a week away", () => {
    const g = capGuarantee(spec(), SHUTDOWN_CLOUD);
    expect(g.holds).toBe("durable-store");
    expect(g.text).toBe(
      "at the cap with no client: checkpoint, push the outputs to gs://kiln-bkt/runs (sha256-verified) through two upload sessions opened with your Google credentials (which stay on this computer), one for each of the job's two objects (outputs.tar, manifest.json): the machine holds no token and can write those two and nothing else (no read, no list), for 7 days, renewed while a client is online, then the cloud terminates the machine on shutdown; if the push fails, the machine is kept (spend may pass the cap) and the push retried until a client returns",
    );
    expect(g.warnings).toEqual([
      "the machine's GCS upload sessions last 7 days and only an online client renews them: if no client has been online in the 7 days before the cap, they have expired by then, the push fails and the machine is kept, billing past the cap, until a client returns (set budget.max_hours under 167 to rule this out)",
    ]);
  });

  it("no warning when max_hours keeps the cap inside the sessions' week; the loss is said when the spec chose stop-billing", () => {
    expect(capGuarantee(spec({ max_hours: 48 }), SHUTDOWN_CLOUD).warnings).toEqual([]);
    const g = capGuarantee(spec({ on_cap_offline: "stop-billing" }), SHUTDOWN_CLOUD);
    expect(g.text).toMatch(/if the push fails, billing ends anyway and the unsaved outputs are lost/);
    expect(g.warnings[0]).toMatch(/the push fails and billing ends and the outputs not yet pulled are lost \(set budget\.max_hours under 167/);
  });
});

// What `kiln plan` says holds at the cap with no client when the durable store is GCS: the token the
// machine holds is downscoped to the job's prefix and lives at most an hour, renewed only while a client is
// online, so the plan states that lifetime and warns what follows for an offline cap, per on_cap_offline.
import { describe, expect, it } from "vitest";
import { jobSpecSchema } from "../spec/job-spec.js";
import { capGuarantee } from "./cap-guarantee.js";

const SHUTDOWN_CLOUD = { kind: "cloud" as const, title: "ShutdownCloud", cap: { cloudSideStop: "shutdown-terminates" as const } };

const spec = (choice?: "keep-data" | "stop-billing") =>
  jobSpecSchema.parse({
    name: "j",
    resources: { providers: ["lambda"], min_vram_gb: 10 },
    budget: { max_usd: 10, ...(choice && { on_cap_offline: choice }) },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: "gs://kiln-bkt/runs" } },
  });

describe("capGuarantee with a gs:// store", () => {
  it("states the downscoped token's scope and hour, and warns that an offline hour before the cap loses the push", () => {
    const g = capGuarantee(spec(), SHUTDOWN_CLOUD);
    expect(g.holds).toBe("durable-store");
    expect(g.text).toBe(
      "at the cap with no client: checkpoint, push the outputs to gs://kiln-bkt/runs (sha256-verified) with a token downscoped to the job's prefix (create and read only), which lasts at most 1 h, its source token's life, and is renewed while a client is online, then the cloud terminates the machine on shutdown; if the push fails, the machine is kept (spend may pass the cap) and the push retried until a client returns",
    );
    expect(g.warnings).toEqual([
      "the machine's GCS token lasts at most 1 h and only an online client renews it: if no client has been online in the hour before the cap, the token has expired by then, the push fails and the machine is kept, billing past the cap, until a client returns",
    ]);
  });

  it("says the outputs are lost when the spec chose stop-billing", () => {
    const g = capGuarantee(spec("stop-billing"), SHUTDOWN_CLOUD);
    expect(g.text).toMatch(/if the push fails, billing ends anyway and the unsaved outputs are lost/);
    expect(g.warnings[0]).toMatch(/the push fails and billing ends and the outputs not yet pulled are lost$/);
  });
});

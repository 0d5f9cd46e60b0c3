// What `kiln plan` says holds at the cap with no client, for each kind of provider and spec, and when
// `kiln run` must refuse (no durable store, no cloud-side stop, no choice in the spec).
import { describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import type { CapCapabilities } from "../../providers/descriptor.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { assertCapDecided, capGuarantee } from "./cap-guarantee.js";

const cloud = (title: string, cap?: CapCapabilities) => ({ kind: "cloud" as const, title, ...(cap && { cap }) });
const API_KEY_CLOUD = cloud("KeyCloud", { apiTerminate: "full-account", persistentVolume: "KeyCloud volumes" });
const SHUTDOWN_CLOUD = cloud("ShutdownCloud", { cloudSideStop: "shutdown-terminates" });
const DEADLINE_CLOUD = cloud("DeadlineCloud", { cloudSideStop: "deadline-at-launch" });
const NO_MEANS_CLOUD = cloud("BareCloud");

const spec = (o: { store?: boolean; role?: boolean; choice?: "keep-data" | "stop-billing" } = {}) =>
  jobSpecSchema.parse({
    name: "j",
    resources: { providers: ["lambda"], min_vram_gb: 10 },
    budget: { max_usd: 10, ...(o.choice && { on_cap_offline: o.choice }) },
    workload: { type: "command", run: ["true"] },
    artifacts: o.store ? { store: { url: "s3://bkt/runs", ...(o.role && { role_arn: "arn:aws:iam::123456789012:role/kiln" }) } } : {},
  });

describe("capGuarantee", () => {
  it("refuses a job with neither a store nor a cloud-side stop nor a choice, and says both choices and the store", () => {
    const g = capGuarantee(spec(), API_KEY_CLOUD);
    expect(g.holds).toBe("undecided");
    expect(g.refusal).toBe("KeyCloud has no cloud-side stop and this job has no durable artifact store: choose what happens at the cap with no client");
    expect(g.warnings[0]).toMatch(/keep-data .* stop-billing .* or add artifacts\.store \(KeyCloud volumes would survive termination, but Kiln does not attach one yet\)$/);
    expect(() => assertCapDecided(spec(), API_KEY_CLOUD)).toThrow(UserError);
  });

  it("states keep-data and stop-billing as chosen, with what each risks", () => {
    const keep = capGuarantee(spec({ choice: "keep-data" }), API_KEY_CLOUD);
    expect(keep).toMatchObject({ holds: "keep-data" });
    expect(keep.refusal).toBeUndefined();
    expect(keep.text).toMatch(/machine keeps billing until a client saves the outputs/);
    expect(keep.warnings[0]).toMatch(/spend can pass budget\.max_usd/);
    const stop = capGuarantee(spec({ choice: "stop-billing" }), API_KEY_CLOUD);
    expect(stop).toMatchObject({ holds: "stop-billing" });
    expect(stop.refusal).toBeUndefined();
    expect(stop.text).toMatch(/terminates the machine through the provider's API; outputs not yet pulled are lost/);
    expect(stop.warnings.join("\n")).toMatch(/holds your KeyCloud API key .* could also launch machines/);
  });

  it("with a store: checkpoint, push and verify, then end billing; a failed push keeps the machine unless stop-billing", () => {
    const g = capGuarantee(spec({ store: true }), API_KEY_CLOUD);
    expect(g).toMatchObject({ holds: "durable-store" });
    expect(g.refusal).toBeUndefined();
    expect(g.text).toMatch(/push the outputs to s3:\/\/bkt\/runs \(sha256-verified\) with the key named in artifacts\.store, as given .* then the watchdog terminates .*; if the push fails, the machine is kept/);
    const scoped = capGuarantee(spec({ store: true, role: true, choice: "stop-billing" }), SHUTDOWN_CLOUD);
    expect(scoped.text).toMatch(/temporary credentials limited to the job's prefix, then the cloud terminates the machine on shutdown; if the push fails, billing ends anyway/);
    expect(scoped.warnings).toEqual([]);
  });

  it("with a store on a launch-deadline cloud: the cloud deletes at the cap and a failed push is lost; keep-data sets no deadline and says billing continues", () => {
    for (const choice of [undefined, "stop-billing"] as const) {
      const g = capGuarantee(spec({ store: true, ...(choice && { choice }) }), DEADLINE_CLOUD);
      expect(g).toMatchObject({ holds: "durable-store" });
      expect(g.refusal).toBeUndefined();
      expect(g.text).toMatch(/then a deadline set at launch makes the cloud delete the machine, even if the watchdog dies; if the push fails, the outputs not yet pulled are lost with the machine/);
      expect(g.text).not.toMatch(/machine is kept/);
    }
    const keep = capGuarantee(spec({ store: true, choice: "keep-data" }), DEADLINE_CLOUD);
    expect(keep.text).toMatch(/no deadline is set at launch, so billing continues until a client ends it/);
    expect(keep.warnings.join("\n")).toMatch(/keep-data rules out DeadlineCloud's only cloud-side stop/);
  });

  it("with a cloud-side stop and no store: billing ends at the cap, outputs not pulled are lost; keep-data cannot hold a launch deadline", () => {
    expect(capGuarantee(spec(), SHUTDOWN_CLOUD)).toMatchObject({ holds: "cloud-stop" });
    expect(capGuarantee(spec(), SHUTDOWN_CLOUD).refusal).toBeUndefined();
    expect(capGuarantee(spec(), DEADLINE_CLOUD).text).toMatch(/even if the watchdog dies; outputs not yet pulled are lost/);
    expect(capGuarantee(spec({ choice: "keep-data" }), DEADLINE_CLOUD).refusal).toMatch(/keep-data cannot hold on DeadlineCloud/);
  });

  it("refuses stop-billing where nothing can end billing, and says so with a store too", () => {
    expect(capGuarantee(spec({ choice: "stop-billing" }), NO_MEANS_CLOUD).refusal).toMatch(/stop-billing cannot hold on BareCloud/);
    const g = capGuarantee(spec({ store: true }), NO_MEANS_CLOUD);
    expect(g).toMatchObject({ holds: "durable-store" });
    expect(g.refusal).toBeUndefined();
    expect(g.warnings[0]).toMatch(/bills until a client ends it/);
  });

  it("has nothing to guarantee off the clouds", () => {
    expect(capGuarantee(spec(), { kind: "local", title: "this computer" })).toMatchObject({ holds: "not-billed", warnings: [] });
  });
});

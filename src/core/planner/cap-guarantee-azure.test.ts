// What `kiln plan` says the machine holds when the durable store is Azure Blob: with the account key, Kiln
// mints a SAS for each of the job's two blobs (outputs.tar, manifest.json), so the plan states that reach
// (those two, read back and written; nothing else) and its week; a SAS the user gives is shipped as given.
import { describe, expect, it } from "vitest";
import { jobSpecSchema } from "../spec/job-spec.js";
import { capGuarantee } from "./cap-guarantee.js";

const SHUTDOWN_CLOUD = { kind: "cloud" as const, title: "ShutdownCloud", cap: { cloudSideStop: "shutdown-terminates" as const } };

const spec = (store: Record<string, unknown>, budget: Record<string, unknown> = {}) =>
  jobSpecSchema.parse({
    name: "j",
    resources: { providers: ["lambda"], min_vram_gb: 10 },
    budget: { max_usd: 10, ...budget },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: "az://kilnacct/kiln/runs", ...store } },
  });

describe("capGuarantee with an az:// store", () => {
  it("minted SASes: states that they reach the job's two blobs only, and their week", () => {
    const g = capGuarantee(spec({ account_key_env: "AZ_KEY" }, { max_hours: 24 }), SHUTDOWN_CLOUD);
    expect(g.holds).toBe("durable-store");
    expect(g.text).toBe(
      "at the cap with no client: checkpoint, push the outputs to az://kilnacct/kiln/runs (sha256-verified) with a SAS minted from the account key (which never leaves this computer) for each of the job's two blobs (outputs.tar, manifest.json): the machine can write and read back those two and nothing else (no other blob, no list, no delete), until an hour past the cap (7 days at most, renewed while a client is online), then the cloud terminates the machine on shutdown; if the push fails, the machine is kept (spend may pass the cap) and the push retried until a client returns",
    );
    expect(g.warnings).toEqual([]);
    expect(capGuarantee(spec({ account_key_env: "AZ_KEY" }), SHUTDOWN_CLOUD).warnings).toEqual([
      "the machine's Azure SASes last 7 days and only an online client renews them: if no client has been online in the 7 days before the cap, they have expired by then, the push fails and the machine is kept, billing past the cap, until a client returns (set budget.max_hours under 167 to rule this out)",
    ]);
  });

  it("a SAS as given: Kiln cannot narrow it, and says how to make it narrow", () => {
    const g = capGuarantee(spec({ sas_token_env: "AZ_SAS" }), SHUTDOWN_CLOUD);
    expect(g.text).toMatch(/with the SAS named in artifacts\.store, as given: it reaches whatever it was made for, which Kiln cannot narrow \(make it for the job's container alone: read, create, write; or, on an account with a hierarchical namespace, a directory SAS, sr=d, for the prefix; or give account_key_env and Kiln mints one per object\)/);
    expect(g.warnings).toEqual([]);
  });
});

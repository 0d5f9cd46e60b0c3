// What `kiln plan` says the machine holds when the durable store is Azure Blob: Kiln's SAS is for the whole
// container (Azure has no prefix-scoped SAS without a hierarchical namespace), so the plan states that reach
// — read by name, create, overwrite; no list, no delete — and warns to give Kiln a container of its own.
import { describe, expect, it } from "vitest";
import { jobSpecSchema } from "../spec/job-spec.js";
import { capGuarantee } from "./cap-guarantee.js";

const SHUTDOWN_CLOUD = { kind: "cloud" as const, title: "ShutdownCloud", cap: { cloudSideStop: "shutdown-terminates" as const } };

const spec = (store: Record<string, unknown>) =>
  jobSpecSchema.parse({
    name: "j",
    resources: { providers: ["lambda"], min_vram_gb: 10 },
    budget: { max_usd: 10 },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: "az://kilnacct/kiln/runs", ...store } },
  });

describe("capGuarantee with an az:// store", () => {
  it("a minted SAS: states that it reaches the whole container and what it can do there, and warns", () => {
    const g = capGuarantee(spec({ account_key_env: "AZ_KEY" }), SHUTDOWN_CLOUD);
    expect(g.holds).toBe("durable-store");
    expect(g.text).toBe(
      "at the cap with no client: checkpoint, push the outputs to az://kilnacct/kiln/runs (sha256-verified) with a SAS minted from the account key (which never leaves this computer) for the whole container az://kilnacct/kiln, not only the job's prefix: it can read any blob there by name and create or overwrite any blob there, but not list or delete, until an hour past the cap, then the cloud terminates the machine on shutdown; if the push fails, the machine is kept (spend may pass the cap) and the push retried until a client returns",
    );
    expect(g.warnings).toEqual([
      "the machine's SAS reaches all of az://kilnacct/kiln, not only the job's prefix: Azure limits a SAS to a prefix only with a directory SAS on an account with a hierarchical namespace, which Kiln does not mint; anyone with root on the machine can read any blob in that container whose name they know and overwrite any blob in it, other jobs' outputs included. Give Kiln a container of its own",
    ]);
  });

  it("a SAS as given: Kiln cannot narrow it, and says how to make it narrow", () => {
    const g = capGuarantee(spec({ sas_token_env: "AZ_SAS" }), SHUTDOWN_CLOUD);
    expect(g.text).toMatch(/with the SAS named in artifacts\.store, as given: it reaches whatever it was made for, which Kiln cannot narrow \(make it for the job's container alone: read, create, write; or, on an account with a hierarchical namespace, a directory SAS, sr=d, for the prefix\)/);
    expect(g.warnings).toEqual([]);
  });
});

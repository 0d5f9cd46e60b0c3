/**
 * `kiln pull JOB --from-store`: fetch what the job's watchdog pushed to its durable store (artifacts.store) when
 * the machine is gone: the way to try again after a fetch at reconciliation failed. Every file is checked
 * against the store's manifest. A Lambda file system is read through a retrieval machine in its region,
 * launched, used and terminated here (src/core/reconcile/volume-retrieval.ts). Holds the job's lock, so it
 * never races another command recovering the same job.
 */
import { UserError } from "../../base/errors.js";
import type { JobRecord, Ledger } from "../../store/index.js";
import type { CommandContext } from "../command.js";

export async function pullFromStore(ctx: CommandContext, ledger: Ledger, job: JobRecord): Promise<number> {
  const { lockJobOrFail } = await import("../../core/jobs/lock.js");
  const { jobLayout } = await import("../../core/job/index.js");
  const { loadJobSpec } = await import("../../core/spec/index.js");
  const { storeFetcher } = await import("../../core/reconcile/salvage.js");
  const layout = jobLayout(ctx.paths.jobs, job.id);
  const spec = await loadJobSpec(layout.spec);
  const store = spec.artifacts.store;
  if (!store) throw new UserError(`job ${job.name} has no durable store (artifacts.store)`, { exitCode: 2, hint: `\`kiln pull ${job.name}\` copies from its machine while it runs` });
  let volumes: Parameters<typeof storeFetcher>[0]["volumes"];
  const { volumeStoreOwner } = await import("../../core/lifecycle/volume-store.js");
  const owner = volumeStoreOwner(store.url);
  if (owner) {
    const { requireCloud } = await import("../../core/lifecycle/providers.js");
    const cloud = await requireCloud(owner.name, { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger });
    volumes = { provider: cloud.provider, logger: ctx.logger, listingLagMs: Number(ctx.env["KILN_LISTING_LAG_MS"] ?? "") || owner.listingLagMs };
  }
  const lock = lockJobOrFail(ledger, job.id, "kiln pull --from-store");
  try {
    const files = await storeFetcher({ ledger, paths: ctx.paths, env: ctx.env, signal: ctx.signal, ...(volumes && { volumes }) })(job);
    ctx.io.out(`Fetched ${files ?? 0} files from the durable store into ${layout.outputs}, each verified against the store's manifest (sha256).\n`);
    return 0;
  } finally {
    lock.release();
  }
}

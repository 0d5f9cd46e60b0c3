/** `kiln gc [--dry-run]`: reconcile with the providers, then terminate Kiln-tagged machines no job owns. */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

export const gcCommand = defineCommand({
  name: "gc",
  summary: "Find and terminate orphaned cloud machines carrying Kiln's tag (never anything else)",
  options: { "dry-run": { type: "boolean", description: "List the orphans without terminating them" } },
  details: "Only machines named kiln-<intent> are considered; machines without Kiln's tag are never touched.",
  async handler(ctx, args) {
    const { openLedger } = await import("../../core/jobs/ledger.js");
    const { configuredLambda } = await import("../../core/lifecycle/providers.js");
    const { reconcileClouds, sweepUntracked, terminateSettings } = await import("../../core/reconcile/index.js");
    const provider = await configuredLambda({ env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger });
    if (!provider) throw new UserError("kiln gc: no cloud is configured, so there is nothing to sweep", { exitCode: 2, hint: "set LAMBDA_API_KEY (or add it with `kiln check`)" });
    const ledger = openLedger(ctx.paths);
    try {
      const r = await reconcileClouds({ ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal }, { force: true });
      for (const id of r.terminated) ctx.io.out(`terminated ${id} (its job's driver was gone)\n`);
      for (const id of r.closed) ctx.io.out(`closed ${id} in the ledger (the provider says it is gone)\n`);
      for (const e of r.errors) ctx.io.err(`error: ${e}\n`);
      if (r.untracked.length === 0) {
        ctx.io.out("no orphaned Kiln machines\n");
        return r.errors.length > 0 ? 1 : 0;
      }
      for (const m of r.untracked) ctx.io.out(`orphan ${m.name} (${m.id}) ${m.instanceType} in ${m.region}, ${m.providerState}, $${m.pricePerHour.toFixed(2)}/h\n`);
      if (args.values["dry-run"]) {
        ctx.io.out(`${r.untracked.length} orphan(s); run \`kiln gc\` without --dry-run to terminate them\n`);
        return 0;
      }
      const s = await sweepUntracked({ ledger, provider, signal: ctx.signal, logger: ctx.logger, terminate: terminateSettings(ctx.env) }, r.untracked);
      ctx.io.out(`terminated ${s.terminated.length} orphan(s)${s.failed.length > 0 ? `; failed: ${s.failed.join("; ")}` : ""}\n`);
      return s.failed.length > 0 || r.errors.length > 0 ? 1 : 0;
    } finally {
      ledger.close();
    }
  },
});

/** `kiln down JOB [--force]`: verified teardown of a cloud job's machine. */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

export const downCommand = defineCommand({
  name: "down",
  summary: "Tear down a cloud job's machine: checkpoint, pull and verify artifacts, terminate, confirm",
  positionals: "JOB",
  options: { force: { type: "boolean", description: "Terminate even if the artifacts cannot be verified (recorded in the ledger)" } },
  details: "Nothing is terminated while the job's artifacts are unverified, unless --force. Termination is confirmed with the provider before the ledger closes the machine.",
  async handler(ctx, args) {
    const [ref, ...extra] = args.positionals;
    if (ref === undefined || extra.length > 0) throw new UserError("kiln down: which job?", { exitCode: 2, hint: "run `kiln status` to list jobs" });
    const { openLedger, requireJob } = await import("../../core/jobs/index.js");
    const { downJob } = await import("../../core/lifecycle/down.js");
    const ledger = openLedger(ctx.paths);
    try {
      const job = requireJob(ledger, ref);
      const force = args.values["force"] === true;
      if (force) ctx.io.err("warning: --force terminates without verifying the artifacts; unsaved outputs are lost\n");
      const r = await downJob(job, { ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, force });
      const now = ledger.getJob(job.id)!;
      if (r.how === "nothing") ctx.io.out(`${job.name} (${job.id}) has no machine running; state ${now.state}\n`);
      else ctx.io.out(`${job.name} (${job.id}) down: ${r.terminated.length} machine(s) terminated and confirmed${r.forced ? " (artifacts NOT verified)" : `, ${r.verifiedFiles} artifact file(s) verified`}; state ${now.state}\n`);
      return 0;
    } finally {
      ledger.close();
    }
  },
});

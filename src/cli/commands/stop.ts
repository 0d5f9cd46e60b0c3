/** `kiln stop JOB`: SIGTERM the workload (it checkpoints and exits), SIGKILL after the grace. */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

export const stopCommand = defineCommand({
  name: "stop",
  summary: "Stop a job: the workload checkpoints and exits (SIGKILL after --grace seconds)",
  positionals: "JOB",
  options: { grace: { type: "string", description: "Seconds to wait for the checkpoint before SIGKILL (default 60)", placeholder: "S" } },
  async handler(ctx, args) {
    const [ref] = args.positionals;
    if (ref === undefined) throw new UserError("kiln stop: which job?", { exitCode: 2, hint: "run `kiln status` to list jobs" });
    const raw = args.values["grace"];
    const grace = raw === undefined ? 60 : Number(raw);
    if (!Number.isFinite(grace) || grace <= 0) throw new UserError(`--grace: expected a positive number of seconds, got "${String(raw)}"`, { exitCode: 2 });
    const { openLedger, stopJob } = await import("../../core/jobs/index.js");
    const ledger = openLedger(ctx.paths);
    try {
      const r = await stopJob(ledger, ref, { graceMs: grace * 1000, signal: ctx.signal });
      const how = { gone: "it had already exited", terminated: "it checkpointed and exited", killed: `it did not exit within ${grace} s and was killed`, "not-running": "no workload process was running" }[r.how];
      ctx.io.out(`stopped ${r.job.name} (${r.job.id}): ${how}; state ${r.job.state}\n  → \`kiln run --resume ${r.job.id}\` continues from the last checkpoint\n`);
      return 0;
    } finally {
      ledger.close();
    }
  },
});

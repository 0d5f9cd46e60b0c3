/**
 * `kiln logs JOB [-f]`: print a job's step logs; with -f keep following until the job ends or Ctrl-C.
 * A job on a remote machine (provider ssh, a cloud) is read on the machine: see ./logs-remote.ts.
 */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";
import { followInterval } from "./run.js";

export const logsCommand = defineCommand({
  name: "logs",
  summary: "Print a job's logs; -f follows them until the job ends (Ctrl-C detaches)",
  positionals: "JOB",
  options: {
    follow: { type: "boolean", short: "f", description: "Keep printing new output until the job ends" },
    step: { type: "string", description: "Only this step's log (e.g. train, probe, run)", placeholder: "NAME" },
    metrics: { type: "boolean", description: "Remote jobs: the metrics files (metrics.jsonl) instead of the logs" },
  },
  async handler(ctx, args) {
    const [ref] = args.positionals;
    if (ref === undefined) throw new UserError("kiln logs: which job?", { exitCode: 2, hint: "run `kiln status` to list jobs" });
    const { LogTail, followLogs, openLedger, requireJob } = await import("../../core/jobs/index.js");
    const { readCloudFile } = await import("../../core/lifecycle/cloud-file.js");
    const ledger = openLedger(ctx.paths);
    try {
      const job = requireJob(ledger, ref);
      const step = typeof args.values["step"] === "string" ? args.values["step"] : undefined;
      const cloud = readCloudFile(job.job_dir);
      if (cloud) {
        const { remoteLogs } = await import("./logs-remote.js");
        return await remoteLogs(ctx, ledger, job, cloud, { follow: args.values["follow"] === true, step, metrics: args.values["metrics"] === true, intervalMs: followInterval(ctx.env) });
      }
      if (args.values["metrics"]) throw new UserError("--metrics is for remote jobs; a local job's metrics are in its outputs/ folder", { exitCode: 2, hint: `see ${job.job_dir}/outputs` });
      const tail = new LogTail(ctx.paths.jobs, job.id, step);
      if (!args.values["follow"]) {
        const text = tail.read();
        ctx.io.out(text || `(no output yet from ${job.name})\n`);
        return 0;
      }
      const end = await followLogs(ledger, job.id, tail, (t) => ctx.io.out(t), { intervalMs: followInterval(ctx.env), signal: ctx.signal });
      ctx.io.err(end ? `job ${end.state}\n` : `detached; ${job.name} keeps running\n`);
      return 0;
    } finally {
      ledger.close();
    }
  },
});

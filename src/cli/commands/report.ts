/** `kiln report JOB [--html]`: reprint a job's report (markdown), or the path of its HTML version. */
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

export const reportCommand = defineCommand({
  name: "report",
  summary: "Print a job's report (markdown); --html prints the path of the HTML report",
  positionals: "JOB",
  options: {
    html: { type: "boolean", description: "Print the path of report.html instead" },
    regenerate: { type: "boolean", description: "Rebuild the report from the ledger and metrics first" },
  },
  async handler(ctx, args) {
    const [ref] = args.positionals;
    if (ref === undefined) throw new UserError("kiln report: which job?", { exitCode: 2, hint: "run `kiln status` to list jobs" });
    const { openLedger, requireJob } = await import("../../core/jobs/index.js");
    const { jobLayout, readRunFile } = await import("../../core/job/index.js");
    const { writeJobReport } = await import("../../core/report/index.js");
    const ledger = openLedger(ctx.paths);
    try {
      const job = requireJob(ledger, ref);
      const layout = jobLayout(ctx.paths.jobs, job.id);
      // A running job has no report yet; build a provisional one so the user sees where it stands.
      if (args.values["regenerate"] || !existsSync(layout.reportMd)) writeJobReport(ledger, job.id, readRunFile(layout.runFile));
      ctx.io.out(args.values["html"] ? `${layout.reportHtml}\n` : readFileSync(layout.reportMd, "utf8"));
      return 0;
    } finally {
      ledger.close();
    }
  },
});

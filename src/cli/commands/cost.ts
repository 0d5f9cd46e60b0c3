/** `kiln cost [--json]`: what each job cost (per-second billing from launch to confirmed termination), and the total. */
import { defineCommand } from "../command.js";
import { renderTable } from "./status.js";

export const costCommand = defineCommand({
  name: "cost",
  summary: "What each job cost, and the total",
  options: { json: { type: "boolean", description: "Print JSON" } },
  async handler(ctx, args) {
    const { jobView, openLedger, reconcileJobs } = await import("../../core/jobs/index.js");
    const ledger = openLedger(ctx.paths);
    try {
      reconcileJobs(ledger);
      const now = Date.now();
      const views = ledger.listJobs().map((j) => jobView(ledger, ctx.paths.jobs, j, now));
      const total = views.reduce((s, v) => s + v.costUsd, 0);
      if (args.values["json"]) {
        ctx.io.out(`${JSON.stringify({ jobs: views.map((v) => ({ id: v.id, name: v.name, state: v.state, provider: v.provider, costUsd: v.costUsd, maxUsd: v.maxUsd ?? null })), totalUsd: total }, null, 2)}\n`);
        return 0;
      }
      const rows = views.map((v) => [v.id, v.name, v.state, v.provider ?? "—", v.maxUsd === undefined ? "—" : `$${v.maxUsd.toFixed(2)}`, `$${v.costUsd.toFixed(4)}`]);
      ctx.io.out(renderTable(["JOB", "NAME", "STATE", "PROVIDER", "BUDGET", "COST"], [...rows, ["total", "", "", "", "", `$${total.toFixed(4)}`]]));
      return 0;
    } finally {
      ledger.close();
    }
  },
});

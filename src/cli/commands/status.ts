/** `kiln status [JOB] [--json]`: jobs with state, progress, elapsed time and cost; one job in detail. */
import type { JobView } from "../../core/jobs/view.js";
import { formatDuration, progressBar } from "../../core/monitor/format.js";
import { defineCommand } from "../command.js";

export function renderTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return `${[line(head), ...rows.map(line)].join("\n")}\n`;
}

const usd = (x: number) => `$${x.toFixed(2)}`;

function progressCell(v: JobView): string {
  if (v.progress.fraction === undefined) return v.progress.step === undefined ? "—" : `step ${v.progress.step}`;
  return progressBar(v.progress.fraction, 10);
}

export const statusCommand = defineCommand({
  name: "status",
  summary: "List jobs and their machines: state, progress, elapsed time and cost",
  positionals: "[JOB]",
  options: {
    json: { type: "boolean", description: "Print JSON" },
    refresh: { type: "boolean", description: "Reconcile with every configured cloud first and act on it: tear down dead drivers' machines (outputs saved first), close what is gone, list untracked Kiln machines. Without it, status changes nothing and says what --refresh would do" },
  },
  async handler(ctx, args) {
    const { jobView, openLedger, reconcileJobs, requireJob } = await import("../../core/jobs/index.js");
    const ledger = openLedger(ctx.paths);
    try {
      // Clouds first: a dead cloud driver's machine must be torn down before its job is closed. Only
      // --refresh acts; plain status is read-only and says what --refresh would do.
      const refresh = args.values["refresh"] === true;
      const { describeReport, emptyReport, reconcileClouds } = await import("../../core/reconcile/index.js");
      const rec = await reconcileClouds({ ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, mode: refresh ? "act" : "report", holder: "kiln status --refresh" }, { everyCloud: refresh }).catch((e: unknown) => {
        ctx.io.err(`warning: could not reconcile with the cloud: ${e instanceof Error ? e.message : String(e)}\n`);
        return emptyReport();
      });
      const { notes, warnings } = describeReport(rec);
      for (const n of notes) ctx.io.err(`reconciled: ${n}\n`);
      for (const w of warnings) ctx.io.err(`warning: ${w}\n`);
      for (const m of rec.untracked) ctx.io.err(`warning: untracked Kiln machine ${m.name} (${m.id}) is ${m.providerState}; \`kiln gc\` terminates it\n`);
      reconcileJobs(ledger);
      const now = Date.now();
      const [ref] = args.positionals;
      const jobs = ref === undefined ? ledger.listJobs() : [requireJob(ledger, ref)];
      const views = jobs.map((j) => jobView(ledger, ctx.paths.jobs, j, now));
      if (args.values["json"]) {
        ctx.io.out(`${JSON.stringify(ref === undefined ? { jobs: views } : views[0], null, 2)}\n`);
        return 0;
      }
      if (views.length === 0) {
        ctx.io.out("no jobs yet — start one with `kiln run JOB.yaml`\n");
        return 0;
      }
      ctx.io.out(
        renderTable(
          ["JOB", "NAME", "STATE", "PROGRESS", "ELAPSED", "COST"],
          views.map((v) => [v.id, v.name, v.state, progressCell(v), formatDuration(v.elapsedS), v.maxUsd === undefined ? usd(v.costUsd) : `${usd(v.costUsd)}/${usd(v.maxUsd)}`]),
        ),
      );
      if (ref !== undefined) {
        const v = views[0]!;
        if (v.progress.step !== undefined) ctx.io.out(`\nstep ${v.progress.step}, ${v.progress.tokens ?? 0} tokens, loss ${v.progress.loss ?? "—"}\n`);
        ctx.io.out(`\nmachines:\n${renderTable(["PROVIDER", "ID", "STATE", "$/H", "COST"], v.machines.map((m) => [m.provider, m.provider_id ?? "—", m.state, m.price_per_hour.toFixed(2), usd(m.costUsd)]))}`);
        const live = v.attempts.find((a) => a.state === "running");
        if (live?.step) ctx.io.out(`\nattempt ${live.n} on ${live.provider}: ${live.step}\n`);
        if (v.attempts.length > 1 || v.recoveryCount > 0) {
          ctx.io.out(`\nattempts (${v.recoveryCount} recover${v.recoveryCount === 1 ? "y" : "ies"}):\n${renderTable(["#", "PROVIDER", "STATE", "STEP", "COST", "WHY"], v.attempts.map((a) => [String(a.n), a.provider, a.state, a.step ?? "—", usd(a.costUsd), a.reason ?? ""]))}`);
        }
        const events = ledger.listEvents(v.id).slice(-8);
        ctx.io.out(`\nrecent events:\n${events.map((e) => `  ${e.ts}  ${e.kind}${e.to_state ? ` → ${e.to_state}` : ""}  ${e.reason ?? ""}`).join("\n")}\n`);
      }
      return 0;
    } finally {
      ledger.close();
    }
  },
});

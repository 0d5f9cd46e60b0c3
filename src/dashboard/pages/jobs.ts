/**
 * The first page: every job with its state, where it runs, its attempt, elapsed time, ETA, and spend
 * against its cap with the projected total; above it, what is running, what failed and what it all cost.
 * Newest first, live jobs on top, 100 to a page (a ledger of thousands stays fast).
 */
import { totalCost } from "../../core/cost/index.js";
import { type JobRecord, isTerminal } from "../../store/index.js";
import type { DashboardContext } from "../context.js";
import { seconds, usd } from "../format.js";
import { type Html, html } from "../html.js";
import { type JobSummary, isOrphan, snapshot, summarize } from "../jobs.js";
import { badge, page } from "./layout.js";

export const PAGE_SIZE = 100;

function row(s: JobSummary): Html {
  const j = s.job;
  const spend = s.capUsd === undefined ? usd(s.spentUsd) : `${usd(s.spentUsd)} of ${usd(s.capUsd)}`;
  return html`<tr data-job="${j.id}">
<td><a href="/jobs/${encodeURIComponent(j.id)}">${j.name}</a><br><span class="muted mono">${j.id}</span></td>
<td data-field="state">${badge(j.state)}${s.driverGone ? html` <span class="flag">driver gone</span>` : ""}</td>
<td data-field="provider">${s.provider ?? "—"}</td>
<td data-field="gpu">${s.gpu ?? "—"}</td>
<td data-field="attempt">${s.attempt ? `${s.attempt.n} of ${s.attempt.of}${s.attempt.step ? ` · ${s.attempt.step}` : ""}` : "—"}</td>
<td class="num" data-field="elapsed">${seconds(s.elapsedS)}</td>
<td class="num" data-field="eta">${s.etaS === undefined ? "—" : seconds(s.etaS)}</td>
<td class="num" data-field="spend">${spend}</td>
<td class="num" data-field="projected">${usd(s.projectedUsd)}</td></tr>`;
}

/** The cards and the table: the part of the page the live stream refreshes. */
export function jobsFragment(ctx: DashboardContext, pageNo: number): Html {
  const now = ctx.now();
  const jobs = ctx.ledger.listJobs();
  // Live jobs first (what needs attention), then newest first as the ledger lists them.
  const ordered = [...jobs.filter((j) => !isTerminal(j.state)), ...jobs.filter((j) => isTerminal(j.state))];
  const snap = snapshot(ctx.ledger);
  const pages = Math.max(1, Math.ceil(ordered.length / PAGE_SIZE));
  const p = Math.min(Math.max(1, pageNo), pages);
  const shown = ordered.slice((p - 1) * PAGE_SIZE, p * PAGE_SIZE).map((j) => summarize(j, snap, { jobsDir: ctx.paths.jobs, metrics: ctx.metrics, plans: ctx.plans, nowMs: now }));
  const allMachines = [...snap.machinesByJob.values()].flat();
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const orphans = ctx.ledger.listMachines().filter((m) => isOrphan(m, m.job_id === null ? undefined : byId.get(m.job_id))).length;
  const count = (f: (j: JobRecord) => boolean) => jobs.filter(f).length;
  const spent = totalCost(allMachines, now);
  const card = (k: string, v: string | number, field: string) => html`<div class="card"><div class="v" data-field="${field}">${v}</div><div class="k">${k}</div></div>`;
  return html`<div class="cards">${card("running", count((j) => !isTerminal(j.state)), "running")}${card("succeeded", count((j) => j.state === "succeeded"), "succeeded")}${card("failed", count((j) => j.state === "failed"), "failed")}${card("spent, all jobs", usd(spent), "spent")}${card("orphaned machines", orphans, "orphans")}</div>
${
  jobs.length === 0
    ? html`<p>No jobs in the ledger yet. Start one with <code>kiln run examples/sae-pii-local.yaml</code>; it appears here as it runs.</p>`
    : html`<table><caption class="muted">${ordered.length} jobs${pages > 1 ? `, page ${p} of ${pages}` : ""}</caption>
<thead><tr><th scope="col">Job</th><th scope="col">State</th><th scope="col">Provider</th><th scope="col">GPU</th><th scope="col">Attempt · step</th><th scope="col" class="num">Elapsed</th><th scope="col" class="num">ETA</th><th scope="col" class="num">Spend of cap</th><th scope="col" class="num">Projected</th></tr></thead>
<tbody>${shown.map(row)}</tbody></table>
${pages > 1 ? html`<nav class="pager" aria-label="Pages">${p > 1 ? html`<a href="/?page=${p - 1}">Newer</a>` : ""}${p < pages ? html`<a href="/?page=${p + 1}">Older</a>` : ""}</nav>` : ""}`
}`;
}

export function jobsPage(ctx: DashboardContext, pageNo: number): string {
  return page({
    title: "Jobs",
    section: "jobs",
    liveSrc: `/live/jobs?page=${pageNo}`,
    body: html`<h1>Jobs</h1><div data-live="jobs">${jobsFragment(ctx, pageNo)}</div>`,
  });
}

/**
 * One job: its numbers and actions, live curves, the step timeline of every attempt with durations and
 * errors, the attempts and why each ended, the cost burn-down against the cap with the alert thresholds,
 * the artifacts with sha256 and where they are, and the end of its logs. Each part is a fragment the
 * live stream re-sends when it changes (see ../live.ts).
 */
import { isTerminal, type JobRecord } from "../../store/index.js";
import { ACTION_TEXT, type ActionName } from "../actions.js";
import { burnDownChart, curveCharts } from "../charts.js";
import type { DashboardContext } from "../context.js";
import { bytes, num, seconds, usd, utc } from "../format.js";
import { type Html, html, raw } from "../html.js";
import { type AttemptDetail, artifactsOf, attemptDetails, logTail, spendOverTime } from "../job-detail.js";
import { type JobSummary, readPlan, snapshotOf, summarize } from "../jobs.js";
import { isOpenMachine } from "../../core/reconcile/index.js";
import { badge, page } from "./layout.js";

const LOG_LINES = 80;

export const jobHref = (id: string, rest = ""): string => `/jobs/${encodeURIComponent(id)}${rest}`;

function available(ctx: DashboardContext, job: JobRecord): ActionName[] {
  const out: ActionName[] = [];
  const cloud = readPlan(ctx.paths.jobs, job).cloud;
  if (!isTerminal(job.state)) out.push("stop");
  if (cloud && (!isTerminal(job.state) || ctx.ledger.listMachines(job.id).some(isOpenMachine))) out.push("down");
  if (isTerminal(job.state) && job.state !== "succeeded") out.push("resume");
  return out;
}

function summaryFragment(s: JobSummary): Html {
  const j = s.job;
  const t = s.latest;
  const card = (k: string, v: string | Html, field: string) => html`<div class="card"><div class="v" data-field="${field}">${v}</div><div class="k">${k}</div></div>`;
  return html`<div class="cards">
${card("state", html`${badge(j.state)}${s.driverGone ? html` <span class="flag">driver gone</span>` : ""}`, "state")}
${card("provider · GPU", `${s.provider ?? "—"} · ${s.gpu ?? "—"}`, "where")}
${card("attempt · step", s.attempt ? `${s.attempt.n} of ${s.attempt.of} · ${s.attempt.step ?? s.attempt.state}` : "—", "attempt")}
${card("elapsed", seconds(s.elapsedS), "elapsed")}
${card("ETA", s.etaS === undefined ? "—" : seconds(s.etaS), "eta")}
${card("spent", usd(s.spentUsd), "spent")}
${card("budget cap", usd(s.capUsd), "cap")}
${card("projected total", usd(s.projectedUsd), "projected")}
${card("step · tokens", t ? `${t.step} · ${t.tokens.toLocaleString("en-US")}` : "—", "step")}
${card("loss · L0 · EV", t ? `${num(t.values.loss, 4)} · ${num(t.values.l0, 1)} · ${num(t.values.explained_variance, 3)}` : "—", "health")}
${card("tokens/s", t ? num(t.values.tokens_per_s, 0) : "—", "tps")}
</div>
`;
}

/** Its own fragment, apart from the ticking numbers: a focused button is replaced only when the choice of actions changes. */
function actionsFragment(ctx: DashboardContext, j: JobRecord): Html {
  const acts = available(ctx, j);
  const log = ctx.actions.forJob(j.id);
  return html`${acts.length > 0 ? html`<div class="actions">${acts.map((a) => html`<a class="button${a === "resume" ? "" : " danger"}" href="${jobHref(j.id, `/confirm/${a}`)}">${ACTION_TEXT[a].title}…</a>`)}</div>` : ""}
<div id="actions" aria-live="polite">${log.map(
    (r) => html`<p class="notice ${r.state}" data-action="${r.action}" data-action-state="${r.state}"><strong>${ACTION_TEXT[r.action].title}</strong> (${utc(r.startedAt)}): ${r.state === "running" ? "in progress…" : r.message}${r.hint ? html`<br>→ ${r.hint}` : ""}</p>`,
  )}</div>`;
}

function chartsFragment(ctx: DashboardContext, j: JobRecord): Html {
  const m = ctx.metrics.get(j.id, j.job_dir);
  const note = m.invalidLines > 0 ? html`<p class="notice failed">${m.invalidLines} metric line(s) could not be read and are left out.</p>` : "";
  const errs = m.errors.map((e) => html`<p class="notice failed">${e.phase} failed: ${e.type ? `${e.type}: ` : ""}${e.message}</p>`);
  return html`${note}${errs}<div class="charts">${curveCharts(m).map((c) => html`<figure>${raw(c.svg)}</figure>`)}</div>`;
}

function timelineFragment(details: readonly AttemptDetail[]): Html {
  if (details.length === 0) return html`<p class="muted">No attempt has started yet.</p>`;
  return html`${details.map((d) => {
    const live = d.attempt.state === "running";
    return html`<h3>Attempt ${d.attempt.n} on ${d.attempt.provider} ${badge(d.attempt.state)}</h3>
<ol class="steps" aria-label="Steps of attempt ${d.attempt.n}">${d.steps.map(
      (s, i) => html`<li class="${s.errors.length > 0 ? "err" : ""}${live && i === d.steps.length - 1 ? " now" : ""}" data-step="${s.name}"><strong>${s.name}</strong> <span class="d">${seconds(s.durationS)}${s.endedAt === null ? " so far" : ""}</span>${
        s.errors.length > 0 ? html`<ul class="errors">${s.errors.map((e) => html`<li>${e}</li>`)}</ul>` : ""
      }</li>`,
    )}</ol>`;
  })}`;
}

function attemptsFragment(details: readonly AttemptDetail[]): Html {
  if (details.length === 0) return html`<p class="muted">None yet.</p>`;
  return html`<table><thead><tr><th scope="col">#</th><th scope="col">Provider</th><th scope="col">Machine</th><th scope="col">State</th><th scope="col">Last step</th><th scope="col">Started</th><th scope="col" class="num">Duration</th><th scope="col" class="num">Cost</th><th scope="col">Why it ended</th></tr></thead><tbody>${details.map(
    (d) => html`<tr data-attempt="${d.attempt.n}"><td>${d.attempt.n}</td><td>${d.attempt.provider}</td><td class="mono">${d.machines.map((m) => m.label).join(", ") || "—"}</td><td>${badge(d.attempt.state)}</td><td>${d.attempt.step ?? "—"}</td><td>${utc(d.attempt.started_at)}</td><td class="num">${seconds(d.durationS)}</td><td class="num" data-field="cost">${usd(d.costUsd)}</td><td>${d.attempt.reason ?? (d.attempt.state === "running" ? "running" : "—")}</td></tr>`,
  )}</tbody></table>`;
}

function costFragment(ctx: DashboardContext, s: JobSummary): Html {
  const j = s.job;
  const now = ctx.now();
  const machines = ctx.ledger.listMachines(j.id);
  const chart = burnDownChart(spendOverTime(machines, j.created_at, j.ended_at ? Math.min(now, Date.parse(j.ended_at)) : now), { capUsd: s.capUsd, alertFractions: s.alertFractions, projectedUsd: s.projectedUsd, etaS: s.etaS });
  const alerts = ctx.ledger.listEvents(j.id).filter((e) => e.kind === "budget_alert" || e.kind === "budget_stop");
  return html`<p>Spent <strong data-field="spent">${usd(s.spentUsd)}</strong>${s.capUsd === undefined ? "" : html` of a <strong>${usd(s.capUsd)}</strong> cap`}; projected total <strong>${usd(s.projectedUsd)}</strong>. Alerts at ${s.alertFractions.map((f) => `${Math.round(f * 100)}%`).join(", ") || "none"} of the cap.</p>
<figure class="charts">${raw(chart.svg)}</figure>
${alerts.length > 0 ? html`<ul>${alerts.map((e) => html`<li>${utc(e.ts)}: ${e.reason}</li>`)}</ul>` : html`<p class="muted">No budget alert has fired.</p>`}`;
}

function artifactsFragment(ctx: DashboardContext, j: JobRecord): Html {
  const list = artifactsOf(ctx.ledger, j);
  if (list.length === 0) return html`<p class="muted">No artifacts recorded yet.</p>`;
  return html`<table><thead><tr><th scope="col">Path</th><th scope="col">Role</th><th scope="col" class="num">Size</th><th scope="col">sha256</th><th scope="col">Verified</th><th scope="col">Where</th></tr></thead><tbody>${list.map(
    (a) => html`<tr><td class="mono">${a.path}</td><td>${a.role ?? "—"}</td><td class="num">${bytes(a.size)}</td><td class="mono sha" data-field="sha256">${a.sha256}</td><td>${a.verified_at ? `yes, ${utc(a.verified_at)}` : html`<span class="flag">no</span>`}</td><td class="mono">${a.present ? a.localPath : html`<span class="flag">not on this computer</span> (${a.localPath})`}</td></tr>`,
  )}</tbody></table>`;
}

function logFragment(j: JobRecord): Html {
  const tails = logTail(j, LOG_LINES);
  if (tails.length === 0) return html`<p class="muted">No log output yet.</p>`;
  return html`${tails.map((t) => html`<h3 class="mono">${t.file}</h3><pre class="log" tabindex="0" aria-label="end of ${t.file}">${t.text}</pre>`)}`;
}

/** Every fragment of the job page by its `data-live` name, as the page and the live stream render them. */
export function jobFragments(ctx: DashboardContext, j: JobRecord): Record<string, Html> {
  const details = attemptDetails(ctx.ledger, j, ctx.now());
  const s = summarize(j, snapshotOf(ctx.ledger, j.id), { jobsDir: ctx.paths.jobs, metrics: ctx.metrics, plans: ctx.plans, nowMs: ctx.now(), endedMetrics: true });
  return {
    summary: summaryFragment(s),
    actions: actionsFragment(ctx, j),
    charts: chartsFragment(ctx, j),
    timeline: timelineFragment(details),
    attempts: attemptsFragment(details),
    cost: costFragment(ctx, s),
    artifacts: artifactsFragment(ctx, j),
    log: logFragment(j),
  };
}

export function jobPage(ctx: DashboardContext, j: JobRecord): string {
  const f = jobFragments(ctx, j);
  const section = (id: string, title: string) => html`<section aria-labelledby="h-${id}"><h2 id="h-${id}">${title}</h2><div data-live="${id}">${f[id]}</div></section>`;
  return page({
    title: j.name,
    section: "jobs",
    liveSrc: jobHref(j.id, "/live"),
    body: html`<p><a href="/">← All jobs</a></p><h1>${j.name} <span class="muted mono">${j.id}</span></h1>
<div data-live="summary">${f["summary"]}</div>
<div data-live="actions">${f["actions"]}</div>
${section("charts", "Training curves")}
${section("timeline", "Step timeline")}
${section("attempts", "Attempts")}
${section("cost", "Cost")}
${section("artifacts", "Artifacts")}
${section("log", "Log (last lines, following)")}`,
  });
}

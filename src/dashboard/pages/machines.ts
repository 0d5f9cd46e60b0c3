/**
 * Every machine in the ledger: the state its provider last reported (as the ledger recorded it), its price
 * and what it has billed, and a flag on orphans (open in the ledger with no live job watching them).
 */
import { machineSeconds } from "../../core/cost/index.js";
import type { DashboardContext } from "../context.js";
import { seconds, usd, utc } from "../format.js";
import { html } from "../html.js";
import { billed, isOrphan, offerOf } from "../jobs.js";
import { jobHref } from "./job.js";
import { badge, page } from "./layout.js";

export function machinesPage(ctx: DashboardContext): string {
  const now = ctx.now();
  const jobs = new Map(ctx.ledger.listJobs().map((j) => [j.id, j]));
  const attempts = new Map(ctx.ledger.listAllAttempts().map((a) => [a.id, a]));
  // Newest first: what is billing now is what a person opens this page for.
  const machines = ctx.ledger.listMachines().reverse();
  const rows = machines.map((m) => {
    const job = m.job_id === null ? undefined : jobs.get(m.job_id);
    const o = offerOf(m);
    const orphan = isOrphan(m, job);
    return html`<tr data-machine="${m.id}"${orphan ? html` data-orphan="true"` : ""}>
<td class="mono">${m.provider_id ?? html`<span class="muted">${m.intent_id}</span>`}</td><td>${m.provider}</td>
<td>${[o.gpuCount && o.gpuCount > 1 ? `${o.gpuCount}× ${o.gpu ?? ""}` : o.gpu, o.instanceType].filter(Boolean).join(" · ") || "—"}</td><td>${o.region ?? "—"}</td>
<td>${job ? html`<a href="${jobHref(job.id)}">${job.name}</a>` : html`<span class="muted">${m.job_id ?? "none"}</span>`}${m.attempt_id !== null && attempts.get(m.attempt_id) ? ` · attempt ${attempts.get(m.attempt_id)!.n}` : ""}</td>
<td data-field="state">${badge(m.state)}</td><td class="num" data-field="price">${usd(m.price_per_hour)}/h</td>
<td>${utc(m.launched_at)}</td><td>${m.terminated_at ? utc(m.terminated_at) : m.launched_at ? "billing" : "—"}</td>
<td class="num">${seconds(machineSeconds(m, now))}</td><td class="num" data-field="cost">${usd(billed(m, now))}</td>
<td>${orphan ? html`<span class="flag">ORPHAN</span> ${job ? `its job is ${job.state} with no live driver` : "no job in the ledger"}: <code>${job ? `kiln down ${job.id}` : "kiln gc"}</code>` : ""}</td></tr>`;
  });
  const orphans = machines.filter((m) => isOrphan(m, m.job_id === null ? undefined : jobs.get(m.job_id))).length;
  return page({
    title: "Machines",
    section: "machines",
    body: html`<h1>Machines</h1>
<p>${machines.length} machine(s) in the ledger, ${orphans} orphaned. State is what the provider last said, as the ledger recorded it; <code>kiln status --refresh</code> asks again.</p>
${machines.length === 0 ? html`<p class="muted">None yet: local jobs and rented machines appear here when they launch.</p>` : html`<table><thead><tr><th scope="col">Machine</th><th scope="col">Provider</th><th scope="col">GPU · type</th><th scope="col">Region</th><th scope="col">Job</th><th scope="col">State</th><th scope="col" class="num">Price</th><th scope="col">Launched</th><th scope="col">Terminated</th><th scope="col" class="num">Billed time</th><th scope="col" class="num">Billed cost</th><th scope="col">Flag</th></tr></thead><tbody>${rows}</tbody></table>`}`,
  });
}

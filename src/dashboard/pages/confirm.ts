/** The confirm step of an action: what it will do, the CLI command it equals, and the form that carries its confirm token. */
import type { JobRecord } from "../../store/index.js";
import { ACTION_TEXT, type ActionName } from "../actions.js";
import { html } from "../html.js";
import { jobHref } from "./job.js";
import { badge, page } from "./layout.js";

export function confirmPage(job: JobRecord, action: ActionName, token: string): string {
  const t = ACTION_TEXT[action];
  return page({
    title: `${t.title} ${job.name}?`,
    section: "jobs",
    body: html`<h1>${t.title} ${job.name}?</h1>
<p>Job <span class="mono">${job.id}</span> is ${badge(job.state)}.</p>
<p>${t.does}</p><p class="muted">This is exactly <code>${t.cli} ${job.id}</code>.</p>
<form method="post" action="${jobHref(job.id, `/actions/${action}`)}" class="actions">
<input type="hidden" name="confirm" value="${token}">
<button type="submit" class="${action === "resume" ? "" : "danger"}" autofocus>${t.title} ${job.name}</button>
<a class="button" href="${jobHref(job.id)}">Cancel</a></form>`,
  });
}

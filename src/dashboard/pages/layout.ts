/** The frame every page shares: skip link, navigation, main landmark, stylesheet and script from /assets/. */
import { type Html, html } from "../html.js";

export type Section = "jobs" | "machines" | "offers";

const NAV: readonly [Section, string, string][] = [
  ["jobs", "/", "Jobs"],
  ["machines", "/machines", "Machines"],
  ["offers", "/offers", "Offers"],
];

export function page(o: { title: string; section?: Section; body: Html; liveSrc?: string }): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>${o.title} · Kiln</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><span class="brand">Kiln</span><nav aria-label="Sections"><ul>${NAV.map(
    ([s, href, label]) => html`<li><a href="${href}"${o.section === s ? html` aria-current="page"` : ""}>${label}</a></li>`,
  )}<li><a href="/metrics">Prometheus metrics</a></li></ul></nav></header>
<main id="main" tabindex="-1"${o.liveSrc ? html` data-live-src="${o.liveSrc}"` : ""}>${o.body}</main>
<script src="/assets/app.js" defer></script></body></html>
`.text;
}

/** A state as a badge: the word itself is the information, the colour only repeats it. */
export const badge = (state: string): Html => html`<span class="badge s-${state.replace(/[^a-z-]/g, "")}">${state}</span>`;

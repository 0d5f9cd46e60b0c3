/**
 * report.md and report.html from {@link ReportData}. Both say the same things in the same order:
 * summary, where it ran and why, final metrics, plots, PII detector scores, attempts, offers tried before a
 * launch, cost, artifacts, timeline.
 * The markdown links the plots as SVG files; the HTML inlines them so it is one self-contained file.
 */
import { z } from "zod";
import { formatDuration } from "../monitor/format.js";
import type { ReportData } from "./data.js";
import { type Series, lineChart } from "./svg.js";

export interface Plot {
  file: string;
  title: string;
  svg: string;
}

const num = (x: unknown, d = 4): string => (typeof x === "number" && Number.isFinite(x) ? (Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(d)) : "—");
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

type Table = { head: string[]; rows: string[][] };
type Section = { title: string; text?: string[]; table?: Table | undefined };

function duration(a: string, b: string | null): string {
  return formatDuration(((b ? Date.parse(b) : Date.now()) - Date.parse(a)) / 1000);
}

export function buildPlots(d: ReportData): Plot[] {
  const train = d.progress.train();
  const evals = d.progress.evals("val");
  const series = (key: "loss" | "l0" | "explained_variance"): Series[] => {
    const s: Series[] = [{ name: "train", points: train.map((t) => [t.tokens, (t[key] as number | null | undefined) ?? Number.NaN] as const) }];
    if (evals.length > 0) s.push({ name: "val", markers: true, points: evals.map((e) => [e.tokens, (e[key] as number | null | undefined) ?? Number.NaN] as const) });
    return s;
  };
  return [
    { file: "plots/loss.svg", title: "Loss", svg: lineChart({ title: "Loss over tokens", xLabel: "tokens", yLabel: "loss", series: series("loss") }) },
    { file: "plots/l0.svg", title: "L0 (active latents per token)", svg: lineChart({ title: "L0 over tokens", xLabel: "tokens", yLabel: "L0 (active latents per token)", series: series("l0") }) },
    { file: "plots/explained_variance.svg", title: "Explained variance", svg: lineChart({ title: "Explained variance over tokens", xLabel: "tokens", yLabel: "explained variance (fraction)", series: series("explained_variance") }) },
  ];
}

const DONE_REASON: Record<string, string> = {
  completed: "completed",
  token_budget: "trained its full token budget",
  early_stop: "stopped early",
  sigterm: "stopped by a signal after saving a checkpoint",
};

function sections(d: ReportData): Section[] {
  const out: Section[] = [];
  out.push({
    title: "Where it ran and why",
    text: [`Ran on **${d.run.provider}** (${d.run.machine.gpu === "cpu" ? "CPU, no GPU" : `${d.run.machine.gpuCount}× ${d.run.machine.gpu}, ${d.run.machine.vramGb} GB`}) at $${d.run.pricePerHour.toFixed(2)}/h.`, `Why: ${d.run.planReason}`],
  });
  const t = d.progress.latestTrain();
  const v = d.progress.evals("val").at(-1);
  const doneTrain = d.progress.done.filter((x) => x.phase === "train").at(-1);
  const rows: string[][] = [];
  if (t) rows.push(["train (last log)", String(t.step), num(t.tokens, 0), num(t.loss), num(t.l0, 1), num(t.explained_variance, 3), num(t.dead_fraction, 3)]);
  if (v) rows.push(["validation (last)", String(v.step), num(v.tokens, 0), num(v.loss), num(v.l0, 1), num(v.explained_variance, 3), num(v["dead_fraction"], 3)]);
  out.push({
    title: "Final SAE metrics",
    text: [doneTrain ? `Training finished: ${DONE_REASON[doneTrain.reason] ?? doneTrain.reason}${d.progress.earlyStop ? ` (${d.progress.earlyStop.reason})` : ""}.` : "Training did not report completion."],
    table: rows.length > 0 ? { head: ["", "step", "tokens", "loss", "L0", "explained variance", "dead fraction"], rows } : undefined,
  });
  const evals = d.progress.probeEvals();
  const sets = [...new Set(evals.map((p) => p.split))];
  if (sets.length > 1) {
    // One line per system across every set it was scored on: the synthetic test split overstates real quality,
    // so the sets nobody templated stand beside it.
    const systems = [...new Set(evals.map((p) => p.system))];
    const f1 = (system: string, split: string) => evals.find((p) => p.system === system && p.split === split && p.match === "overlap")?.micro.f1;
    out.push({
      title: "PII detector: overlap micro-F1 by evaluation set",
      table: { head: ["system", ...sets], rows: systems.map((sys) => [sys, ...sets.map((set) => num(f1(sys, set), 3))]) },
    });
  }
  // Per-label tables for the probe's own test split only (every set's lines are in metrics.jsonl).
  for (const p of evals.filter((e) => sets.length === 1 || e.split === "test")) {
    out.push({
      title: `PII detector: ${p.system} (${p.split}${p.match ? `, ${p.match} match` : ""})`,
      table: {
        head: ["label", "precision", "recall", "F1", "support"],
        rows: [
          ...Object.entries(p.per_label).map(([label, s]) => [label, num(s.precision, 3), num(s.recall, 3), num(s.f1, 3), String(s.support ?? "—")]),
          ["**micro**", num(p.micro.precision, 3), num(p.micro.recall, 3), num(p.micro.f1, 3), String(p.micro.support ?? "—")],
        ],
      },
    });
  }
  if (d.attempts.length > 1) {
    const recoveries = d.attempts.filter((a, i) => i < d.attempts.length - 1 && (a.state === "preempted" || a.state === "lost")).length;
    out.push({
      title: "Attempts",
      text: [`${d.attempts.length} attempts, ${recoveries} recover${recoveries === 1 ? "y" : "ies"}: each a machine and a run; a machine the cloud took away was replaced and the run resumed from its newest saved checkpoint.`],
      table: {
        head: ["#", "provider", "started", "ended", "how it ended", "cost", "why"],
        rows: d.attempts.map((a) => [String(a.n), a.provider, a.started_at, a.ended_at ?? "running", a.state, `$${a.costUsd.toFixed(4)}`, a.reason ?? ""]),
      },
    });
  }
  const tried = launchFailures(d);
  if (tried.length > 0) {
    out.push({
      title: "Offers tried before launch",
      text: ["Each launch went down the plan's ranked offers; these were tried first and could not be used:"],
      table: { head: ["time (UTC)", "offer", "provider", "what happened", "why"], rows: tried },
    });
  }
  out.push({
    title: "Cost",
    text: [`Total: **$${d.totalUsd.toFixed(2)}**${d.run.budget.maxUsd === undefined ? "" : ` of a $${d.run.budget.maxUsd.toFixed(2)} budget`}.`],
    table: {
      head: ["machine", "provider", "$/h", "launched", "terminated", "billed time", "cost"],
      rows: d.machines.map((m) => [m.provider_id ?? m.intent_id, m.provider, m.price_per_hour.toFixed(2), m.launched_at ?? "—", m.terminated_at ?? "running", m.launched_at ? duration(m.launched_at, m.terminated_at) : "—", `$${m.costUsd.toFixed(4)}`]),
    },
  });
  out.push({
    title: "Artifacts",
    text: d.artifacts.length === 0 ? ["No artifacts were declared."] : [],
    table: d.artifacts.length === 0 ? undefined : { head: ["path", "role", "size (bytes)", "sha256", "verified"], rows: d.artifacts.map((a) => [a.path.startsWith(`${d.run.jobDir}/`) ? a.path.slice(d.run.jobDir.length + 1) : a.path, a.role ?? "", String(a.size), a.sha256, a.verified_at ? "yes" : "**NO**"]) },
  });
  out.push({
    title: "Timeline",
    table: {
      head: ["time (UTC)", "event", "detail"],
      rows: d.events.map((e) => [e.ts.replace("T", " ").replace("Z", ""), e.to_state ? `${e.kind}: ${e.from_state ? `${e.from_state} → ` : ""}${e.to_state}` : e.kind, e.reason ?? ""]),
    },
  });
  return out;
}

// The launch event's data (src/core/lifecycle/attempt-steps.ts): the offers tried before the one launched.
const launchData = z.object({ failures: z.array(z.object({ provider: z.string(), offer: z.string(), kind: z.string(), why: z.string() })) });

/** One row per offer a launch tried and could not use, from the launch events' data (a row that does not parse is skipped). */
function launchFailures(d: ReportData): string[][] {
  return d.events
    .filter((e) => e.kind === "launch" && e.data_json)
    .flatMap((e) => {
      let json: unknown;
      try {
        json = JSON.parse(e.data_json!);
      } catch {
        return [];
      }
      const r = launchData.safeParse(json);
      const at = e.ts.replace("T", " ").replace("Z", "");
      return r.success ? r.data.failures.map((f) => [at, f.offer, f.provider, f.kind, f.why]) : [];
    });
}

function mdTable(t: Table): string[] {
  const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
  return [`| ${t.head.map(cell).join(" | ")} |`, `|${t.head.map(() => "---").join("|")}|`, ...t.rows.map((r) => `| ${r.map(cell).join(" | ")} |`)];
}

function summary(d: ReportData): string {
  const j = d.job;
  return `Job \`${j.id}\` · state **${j.state}** · started ${j.created_at} · ${j.ended_at ? `ended ${j.ended_at} (${duration(j.created_at, j.ended_at)})` : "still running"} · cost $${d.totalUsd.toFixed(2)}`;
}

export function renderMarkdown(d: ReportData, plots: Plot[]): string {
  const lines = [`# Kiln report: ${d.job.name}`, "", summary(d), ""];
  const secs = sections(d);
  const [where, final, ...rest] = secs;
  for (const s of [where!, final!]) pushSection(lines, s);
  lines.push("## Training curves", "");
  for (const p of plots) lines.push(`![${p.title}](${p.file})`, "");
  for (const s of rest) pushSection(lines, s);
  lines.push(`_Generated ${d.generatedAt} by kiln._`, "");
  return lines.join("\n");
}

function pushSection(lines: string[], s: Section): void {
  lines.push(`## ${s.title}`, "");
  for (const t of s.text ?? []) lines.push(t, "");
  if (s.table) lines.push(...mdTable(s.table), "");
}

const mdInline = (s: string) => esc(s).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(/`(.+?)`/g, "<code>$1</code>");

export function renderHtml(d: ReportData, plots: Plot[]): string {
  const body: string[] = [`<h1>Kiln report: ${esc(d.job.name)}</h1>`, `<p>${mdInline(summary(d))}</p>`];
  const secs = sections(d);
  const section = (s: Section) => {
    body.push(`<h2>${esc(s.title)}</h2>`);
    for (const t of s.text ?? []) body.push(`<p>${mdInline(t)}</p>`);
    if (s.table) {
      body.push(`<table><thead><tr>${s.table.head.map((h) => `<th>${mdInline(h)}</th>`).join("")}</tr></thead><tbody>`);
      for (const r of s.table.rows) body.push(`<tr>${r.map((c) => `<td>${mdInline(c)}</td>`).join("")}</tr>`);
      body.push("</tbody></table>");
    }
  };
  section(secs[0]!);
  section(secs[1]!);
  body.push("<h2>Training curves</h2>", `<div class="plots">${plots.map((p) => `<figure>${p.svg}</figure>`).join("")}</div>`);
  for (const s of secs.slice(2)) section(s);
  body.push(`<p class="foot">Generated ${esc(d.generatedAt)} by kiln.</p>`);
  const css =
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:13px}th{background:#f4f4f4}code{background:#f4f4f4;padding:0 3px}figure{display:inline-block;margin:0 8px 8px 0}.foot{color:#777;font-size:12px}";
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Kiln report: ${esc(d.job.name)}</title><style>${css}</style></head><body>\n${body.join("\n")}\n</body></html>\n`;
}

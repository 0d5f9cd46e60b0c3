/**
 * The job report: report.md + report.html (+ plots/*.svg) in the job dir, written when a job ends and
 * rewritten by `kiln report`.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../../base/atomic-file.js";
import type { Ledger } from "../../store/index.js";
import type { RunFile } from "../job/run-file.js";
import { gatherReport } from "./data.js";
import { buildPlots, renderHtml, renderMarkdown } from "./render.js";

export { gatherReport, type ReportData } from "./data.js";
export { buildPlots, renderHtml, renderMarkdown } from "./render.js";
export { type ChartOptions, type Rule, type Series, lineChart, niceTicks, tickLabel } from "./svg.js";
export { type Point, downsample, downsampleColumns } from "./downsample.js";

export interface WrittenReport {
  markdownPath: string;
  htmlPath: string;
  markdown: string;
}

export function writeJobReport(ledger: Ledger, jobId: string, run: RunFile, nowMs: number = Date.now()): WrittenReport {
  const d = gatherReport(ledger, jobId, run, nowMs);
  const plots = buildPlots(d);
  for (const p of plots) {
    const path = join(run.jobDir, p.file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, p.svg);
  }
  const markdown = renderMarkdown(d, plots);
  const markdownPath = join(run.jobDir, "report.md");
  const htmlPath = join(run.jobDir, "report.html");
  // Written whole or not at all: followers read the report as soon as it appears.
  writeFileAtomic(markdownPath, markdown);
  writeFileAtomic(htmlPath, renderHtml(d, plots));
  return { markdownPath, htmlPath, markdown };
}

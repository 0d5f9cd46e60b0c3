/**
 * A job's directory, `$KILN_HOME/jobs/<id>/`: everything about one job lives here, so "resume" means
 * "run the supervisor again on this directory".
 *
 *   spec.yaml        the job spec exactly as submitted
 *   run.json         what the supervisor executes (steps, budget, alerts, monitor settings)
 *   sae.yaml …       engine configs written from the spec
 *   logs/<step>.log  each step's stdout+stderr; logs/supervisor.log the supervisor's own log
 *   outputs/         the workloads' output dirs (metrics.jsonl, checkpoints, artifacts)
 *   report.md/.html  written when the job ends
 */
import { join } from "node:path";

export interface JobLayout {
  dir: string;
  spec: string;
  runFile: string;
  logs: string;
  supervisorLog: string;
  outputs: string;
  reportMd: string;
  reportHtml: string;
}

export function jobLayout(jobsDir: string, jobId: string): JobLayout {
  const dir = join(jobsDir, jobId);
  return {
    dir,
    spec: join(dir, "spec.yaml"),
    runFile: join(dir, "run.json"),
    logs: join(dir, "logs"),
    supervisorLog: join(dir, "logs", "supervisor.log"),
    outputs: join(dir, "outputs"),
    reportMd: join(dir, "report.md"),
    reportHtml: join(dir, "report.html"),
  };
}

export const stepLogPath = (layout: JobLayout, step: string): string => join(layout.logs, `${step}.log`);

/** Job ids sort by creation time and are short enough to type: `20261128-171203-3f9a`. */
export function newJobId(now: Date = new Date(), random: () => number = Math.random): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const date = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
  const time = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  const suffix = Math.floor(random() * 0x10000)
    .toString(16)
    .padStart(4, "0");
  return `${date}-${time}-${suffix}`;
}

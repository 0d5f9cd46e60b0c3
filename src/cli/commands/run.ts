/**
 * `kiln run JOB.yaml`: start a job on this machine under a detached supervisor and follow it in the
 * foreground (Ctrl-C detaches; the job keeps running). `--detach` returns at once with the job id;
 * `--resume JOB` restarts an interrupted/stopped/failed job in its own directory.
 */
import { UserError } from "../../base/errors.js";
import type { CommandContext } from "../command.js";
import { defineCommand } from "../command.js";
import { cloudRunOptions, resumeCloud, runCloud, wantsCloud } from "./run-cloud.js";

function positiveFlag(name: string, raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n) || n <= 0) throw new UserError(`--${name}: expected a positive number, got "${String(raw)}"`, { exitCode: 2 });
  return n;
}

/** Follow interval; KILN_FOLLOW_INTERVAL_MS lets tests and slow terminals change it. */
export const followInterval = (env: NodeJS.ProcessEnv): number => Number(env["KILN_FOLLOW_INTERVAL_MS"] ?? "") || 1000;

export async function followInForeground(ctx: CommandContext, jobId: string, name: string): Promise<number> {
  const { followProgress, openLedger } = await import("../../core/jobs/index.js");
  const ledger = openLedger(ctx.paths);
  try {
    let last = "";
    const job = await followProgress(
      ledger,
      ctx.paths.jobs,
      jobId,
      (line) => {
        if (line === last) return;
        last = line;
        // A terminal gets one self-rewriting line; a pipe gets a line per change.
        ctx.io.out(ctx.io.isTty ? `\r\x1b[2K${line}` : `${line}\n`);
      },
      { intervalMs: followInterval(ctx.env), signal: ctx.signal },
    );
    if (ctx.io.isTty) ctx.io.out("\n");
    if (!job) {
      ctx.io.err(`detached from ${name} (${jobId}); it keeps running.\n  → \`kiln logs -f ${jobId}\` to re-attach, \`kiln stop ${jobId}\` to stop it\n`);
      return 0;
    }
    ctx.io.out(`job ${name} (${jobId}) ${job.state}\n`);
    if (job.state !== "succeeded") {
      const last = ledger.listEvents(jobId, { kind: "job_state" }).at(-1);
      if (last?.reason) ctx.io.err(`  reason: ${last.reason}\n`);
      ctx.io.err(`  → \`kiln logs ${jobId}\` for the logs${job.state === "interrupted" || job.state === "stopped" ? `, \`kiln run --resume ${jobId}\` to resume` : ""}\n`);
    }
    ctx.io.out(`report: ${ctx.paths.jobs}/${jobId}/report.md (\`kiln report ${jobId}\`)\n`);
    return job.state === "succeeded" ? 0 : 1;
  } finally {
    ledger.close();
  }
}

/** A spec whose only provider is the user's own host runs there (the planner has nothing else to choose). */
async function plannedOnHost(cwd: string, specPath: string): Promise<string | undefined> {
  const { resolve } = await import("node:path");
  const { loadJobSpec } = await import("../../core/spec/index.js");
  const { providerNamed } = await import("../../providers/registry.js");
  const spec = await loadJobSpec(resolve(cwd, specPath));
  const [only, ...more] = spec.resources.providers;
  return only !== undefined && more.length === 0 && providerNamed(only).kind === "host" ? only : undefined;
}

export const runCommand = defineCommand({
  name: "run",
  summary: "Run a job on this machine, supervised and detached; follow it until it ends",
  positionals: "JOB.yaml | --resume JOB",
  options: {
    detach: { type: "boolean", short: "d", description: "Start the job and return at once with its id" },
    resume: { type: "string", description: "Resume an interrupted, stopped or failed job from its last checkpoint", placeholder: "JOB" },
    "stall-minutes": { type: "string", description: "Alert when no metrics arrive for this long (default 10)", placeholder: "MIN" },
    grace: { type: "string", description: "Seconds the workload gets to checkpoint on stop before SIGKILL (default 60)", placeholder: "S" },
    ...cloudRunOptions,
  },
  details:
    "The job runs under a supervisor process of its own: it survives Ctrl-C, `kiln` exiting and the terminal closing.\nIts files are in $KILN_HOME/jobs/<id>/ (spec, engine configs, logs, outputs, report).",
  async handler(ctx, args) {
    if (wantsCloud(args)) return runCloud(ctx, args);
    const host = args.positionals.length === 1 && args.values["resume"] === undefined ? await plannedOnHost(ctx.cwd, args.positionals[0]!) : undefined;
    if (host !== undefined) return runCloud(ctx, args, host);
    const { isCloudJob, requireJob, resumeJob, submitJob, openLedger } = await import("../../core/jobs/index.js");
    if (typeof args.values["resume"] === "string") {
      const ledger = openLedger(ctx.paths);
      let cloud: boolean;
      try {
        cloud = isCloudJob(ctx.paths, requireJob(ledger, args.values["resume"]));
      } finally {
        ledger.close();
      }
      if (cloud) {
        if (args.positionals.length > 0) throw new UserError("kiln run: give either JOB.yaml or --resume JOB, not both", { exitCode: 2 });
        return resumeCloud(ctx, args, args.values["resume"]);
      }
    }
    const { supervisorEntry } = await import("../../core/supervisor/launch.js");
    const entry = supervisorEntry(ctx.env["KILN_SUPERVISOR_ENTRY"]);
    const graceMs = positiveFlag("grace", args.values["grace"], 60) * 1000;
    const resume = args.values["resume"];
    let jobId: string;
    let name: string;
    if (typeof resume === "string") {
      if (args.positionals.length > 0) throw new UserError("kiln run: give either JOB.yaml or --resume JOB, not both", { exitCode: 2 });
      const ledger = openLedger(ctx.paths);
      try {
        const r = await resumeJob(ledger, ctx.paths, resume, { entry, env: ctx.env, graceMs, signal: ctx.signal });
        [jobId, name] = [r.job.id, r.job.name];
      } finally {
        ledger.close();
      }
      ctx.io.out(`resumed ${name} (${jobId})\n`);
    } else {
      const [spec, ...extra] = args.positionals;
      if (spec === undefined || extra.length > 0) throw new UserError("kiln run: expected one job spec", { exitCode: 2, hint: "kiln run examples/sae-pii-local.yaml" });
      const s = await submitJob({
        paths: ctx.paths,
        env: ctx.env,
        cwd: ctx.cwd,
        specPath: spec,
        supervisorEntry: entry,
        stallMinutes: positiveFlag("stall-minutes", args.values["stall-minutes"], 10),
        stopGraceMs: graceMs,
        signal: ctx.signal,
      });
      [jobId, name] = [s.jobId, s.name];
      ctx.io.out(`started ${name} (${jobId}) in ${s.layout.dir}\n`);
    }
    if (args.values["detach"]) {
      ctx.io.out(`→ \`kiln logs -f ${jobId}\` to follow, \`kiln status ${jobId}\`, \`kiln stop ${jobId}\`\n`);
      return 0;
    }
    return followInForeground(ctx, jobId, name);
  },
});

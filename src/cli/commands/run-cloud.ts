/**
 * `kiln run JOB.yaml --provider lambda [--sim]`: the cloud half of `kiln run`. Reconciles first, plans
 * on live offers, starts the detached cloud driver and follows it: where it launched (and where it
 * failed over from), the live progress line with spend and projected total, and the end state with
 * the confirmed termination. Ctrl-C detaches; the driver keeps going (and the watchdog holds the cap).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../../base/deadline.js";
import { UserError } from "../../base/errors.js";
import type { CommandContext, ParsedArgs } from "../command.js";

export const cloudRunOptions = {
  provider: { type: "string", description: "Run on this cloud (lambda), several to fail over across (lambda,runpod), or your own host (ssh, from resources.ssh) instead of this machine", placeholder: "NAME[,NAME…]" },
  cleanup: { type: "boolean", description: "Provider ssh: remove the job's directory on the host once its artifacts are verified here" },
  sim: { type: "boolean", description: "Rehearse the cloud run against an emulator started on the fly (machines are loopback sshd's)" },
  "watchdog-terminate": {
    type: "boolean",
    description: "Let the on-machine watchdog terminate the machine itself at the budget deadline (puts the API key on the machine)",
  },
} as const;

export const wantsCloud = (args: ParsedArgs): boolean => typeof args.values["provider"] === "string" || args.values["sim"] === true;

const followMs = (env: NodeJS.ProcessEnv): number => Number(env["KILN_FOLLOW_INTERVAL_MS"] ?? "") || 1000;
/** How long a followed run waits, after the job ends, for its driver to write the report and exit. */
const DRIVER_EXIT_WAIT_MS = 60_000;

export async function runCloud(ctx: CommandContext, args: ParsedArgs, planned?: string): Promise<number> {
  const { isProviderName, providerNamed, rentableClouds } = await import("../../providers/registry.js");
  // `--sim` alone rehearses on the first rentable cloud that has a simulated account.
  const given = (args.values["provider"] as string | undefined) ?? planned ?? rentableClouds().find((d) => d.simulate)?.name ?? "";
  // Several clouds, comma-separated, in the order to prefer on equal cost: failover crosses them.
  const providers = given.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (providers.length === 0) throw new UserError("--provider: expected a provider name", { exitCode: 2, hint: "`kiln offers` lists them; kiln run JOB.yaml --provider lambda [--sim]" });
  if (new Set(providers).size !== providers.length) throw new UserError(`--provider ${given}: names a provider twice`, { exitCode: 2 });
  for (const p of providers) {
    if (!isProviderName(p)) throw new UserError(`--provider ${p}: no such provider`, { exitCode: 2, hint: "`kiln offers` lists them; kiln run JOB.yaml --provider lambda [--sim]" });
    const d = providerNamed(p);
    if (d.kind === "local") throw new UserError("--provider local: run it without --provider (local jobs run under Kiln's supervisor)", { exitCode: 2 });
    if (d.kind === "cloud" && !d.configured) {
      const { notRentable } = await import("../../core/lifecycle/providers.js");
      throw notRentable(d);
    }
  }
  const provider = providers.join(",");
  const d = providerNamed(providers[0]!);
  const [spec, ...extra] = args.positionals;
  if (spec === undefined || extra.length > 0) throw new UserError("kiln run: expected one job spec", { exitCode: 2, hint: "kiln run examples/sae-pii-local.yaml --provider lambda --sim" });
  const { openLedger } = await import("../../core/jobs/ledger.js");
  const { reconcileClouds } = await import("../../core/reconcile/index.js");
  const { submitCloudJob } = await import("../../core/lifecycle/submit.js");
  const sim = args.values["sim"] === true;
  const pre = openLedger(ctx.paths);
  try {
    await reconcileClouds({ ledger: pre, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, mode: "act", holder: "kiln run" });
  } finally {
    pre.close();
  }
  const s = await submitCloudJob({ paths: ctx.paths, env: ctx.env, cwd: ctx.cwd, specPath: spec, providers, sim, cleanup: args.values["cleanup"] === true, watchdogTerminate: args.values["watchdog-terminate"] === true, logger: ctx.logger, signal: ctx.signal });
  const first = s.offers[0]!;
  if (d.kind === "host") ctx.io.out(`started ${s.name} (${s.jobId}) on ${s.planReason}\n`);
  else ctx.io.out(`started ${s.name} (${s.jobId}) on ${provider}${sim ? " (simulated)" : ""}: ${s.offers.length > 1 && providers.length > 1 ? `${first.provider} ` : ""}${first.instanceType} in ${first.region} at $${first.pricePerHour.toFixed(2)}/h first, ${s.offers.length} offer(s) by expected cost\n`);
  if (args.values["detach"]) {
    ctx.io.out(`→ \`kiln status ${s.jobId}\`, \`kiln down ${s.jobId}\`\n`);
    return 0;
  }
  return followCloudJob(ctx, s.jobId, s.jobDir);
}

/** `kiln run --resume JOB` for a cloud job: reconcile, then a new attempt on a new machine from the newest verified checkpoint. */
export async function resumeCloud(ctx: CommandContext, args: ParsedArgs, ref: string): Promise<number> {
  const { openLedger } = await import("../../core/jobs/ledger.js");
  const { requireJob } = await import("../../core/jobs/index.js");
  const { reconcileClouds } = await import("../../core/reconcile/index.js");
  const { resumeCloudJob } = await import("../../core/lifecycle/resume.js");
  const ledger = openLedger(ctx.paths);
  let resumed: { id: string; name: string; dir: string };
  try {
    await reconcileClouds({ ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, mode: "act", holder: "kiln run --resume" });
    const r = resumeCloudJob(ledger, requireJob(ledger, ref), ctx.env);
    resumed = { id: r.job.id, name: r.job.name, dir: r.job.job_dir };
  } finally {
    ledger.close();
  }
  ctx.io.out(`resumed ${resumed.name} (${resumed.id}) on a new machine, from its newest saved checkpoint\n`);
  if (args.values["detach"]) {
    ctx.io.out(`→ \`kiln status ${resumed.id}\`, \`kiln down ${resumed.id}\`\n`);
    return 0;
  }
  return followCloudJob(ctx, resumed.id, resumed.dir);
}

export async function followCloudJob(ctx: CommandContext, jobId: string, jobDir: string): Promise<number> {
  const { openLedger } = await import("../../core/jobs/ledger.js");
  const { isJobAlive } = await import("../../core/reconcile/index.js");
  const { totalCost } = await import("../../core/cost/index.js");
  const { isTerminal } = await import("../../store/index.js");
  const ledger = openLedger(ctx.paths);
  try {
    let last = "";
    let seenEvents = 0;
    for (;;) {
      const job = ledger.getJob(jobId)!;
      const events = ledger.listEvents(jobId).filter((e) => e.kind === "launch" || e.kind === "shipped" || e.kind === "budget_alert" || e.kind === "alert" || e.kind === "stopping");
      for (const e of events.slice(seenEvents)) ctx.io.out(`${ctx.io.isTty ? "\r\x1b[2K" : ""}${e.kind === "alert" ? "ALERT: " : ""}${e.reason}\n`);
      seenEvents = events.length;
      let line = "";
      try {
        line = readFileSync(join(jobDir, "progress.txt"), "utf8").trim();
      } catch {
        // Not started yet.
      }
      if (line && line !== last) {
        last = line;
        ctx.io.out(ctx.io.isTty ? `\r\x1b[2K${line}` : `${line}\n`);
      }
      if (isTerminal(job.state) || !isJobAlive(job)) {
        // The driver records the final state, then writes the report (and the sim's bill) and exits:
        // wait for it (bounded) so that whoever followed the job finds them in place. 60 s, not 15: on a
        // loaded 2-core machine the report took longer and the "report:" line went missing (CI, v11).
        for (let waited = 0; waited < DRIVER_EXIT_WAIT_MS && isJobAlive(ledger.getJob(jobId)!); waited += 100) await sleep(100, ctx.signal).catch(() => undefined);
        if (ctx.io.isTty && last) ctx.io.out("\n");
        const now = ledger.getJob(jobId)!;
        const machines = ledger.listMachines(jobId);
        const cost = totalCost(machines, Date.now());
        if (!isTerminal(now.state)) {
          ctx.io.err(`the cloud driver of ${jobId} is gone; \`kiln status\` reconciles its machine (checkpoint, pull, terminate)\n`);
          return 1;
        }
        ctx.io.out(`job ${now.name} (${jobId}) ${now.state} · cost $${cost.toFixed(4)} · machines: ${machines.map((m) => `${m.provider_id ?? m.intent_id} ${m.state}`).join(", ") || "none"}\n`);
        if (now.state !== "succeeded") ctx.io.err(`  reason: ${ledger.listEvents(jobId, { kind: "job_state" }).at(-1)?.reason ?? "?"}\n`);
        if (existsSync(join(jobDir, "report.md"))) ctx.io.out(`report: ${join(jobDir, "report.md")} (\`kiln report ${jobId}\`)\n`);
        return now.state === "succeeded" ? 0 : 1;
      }
      try {
        await sleep(followMs(ctx.env), ctx.signal);
      } catch {
        ctx.io.err(`detached from ${jobId}; it keeps running (\`kiln status ${jobId}\`, \`kiln down ${jobId}\`)\n`);
        return 0;
      }
    }
  } finally {
    ledger.close();
  }
}

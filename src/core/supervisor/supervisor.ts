/**
 * The supervisor: one detached process per running job (see ./launch.ts). It records itself in the
 * ledger, registers the machine (local: this computer), runs the job's steps one after another, each
 * as its own process group with stdout/stderr in logs/<step>.log, watches metrics, budget and health
 * every tick, and on the way out — success, failure, `kiln stop`, budget, or a signal — stops the
 * workload (SIGTERM → checkpoint → SIGKILL after the grace), releases the machine, writes the final
 * state and the report, and flushes alerts. If it is SIGKILLed itself, `kiln status` notices the dead
 * pid and marks the job `interrupted`; `kiln run --resume` starts a new supervisor on the same dir.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { providers } from "../../providers/registry.js";
import { Ledger, type JobState } from "../../store/index.js";
import { type Alert, type AlertEvent, AlertQueue } from "../alerts/index.js";
import { machineSeconds, totalCost } from "../cost/index.js";
import { sleep } from "../../base/deadline.js";
import { errorMessage } from "../../base/errors.js";
import { jobLayout, readRunFile, type RunFile, type Step, stepLogPath } from "../job/index.js";
import type { Logger } from "../../base/logger.js";
import type { Finding } from "../monitor/detectors.js";
import { JobProgress } from "../monitor/progress.js";
import { MetricsReader } from "../monitor/reader.js";
import { writeJobReport } from "../report/index.js";
import { checkArtifact } from "./artifacts.js";
import { tailLines } from "./logs.js";
import { stopGroup } from "./process.js";
import { JobWatcher } from "./watch.js";

export interface SupervisorOptions {
  logger: Logger;
  /** Aborted when the supervisor process gets SIGTERM/SIGINT: stop the job gracefully. */
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
}

const FINDING_ALERT: Record<Finding["kind"], AlertEvent> = { nonfinite: "failed", stall: "stalled", plateau: "stalled" };

interface StepOutcome {
  state: "done" | "failed" | "stopped";
  reason: string;
  data?: Record<string, unknown>;
}

export async function superviseJob(jobDir: string, opts: SupervisorOptions): Promise<JobState> {
  const run = readRunFile(join(jobDir, "run.json"));
  const layout = jobLayout(join(jobDir, ".."), run.jobId);
  mkdirSync(layout.logs, { recursive: true });
  const ledger = Ledger.open(run.ledgerPath);
  try {
    return await supervise(run, layout.dir, ledger, opts);
  } finally {
    ledger.close();
  }
}

async function supervise(run: RunFile, jobDir: string, ledger: Ledger, opts: SupervisorOptions): Promise<JobState> {
  const { logger, env } = opts;
  const jobId = run.jobId;
  const layout = jobLayout(join(jobDir, ".."), jobId);
  const prior = ledger.listAttempts(jobId).length;
  ledger.setProcesses(jobId, { supervisorPid: process.pid, workloadPid: null });
  ledger.transitionJob(jobId, "running", prior === 0 ? "supervisor started" : `resumed (attempt ${prior + 1})`);
  const attempt = ledger.startAttempt(jobId, run.provider);

  // Register the machine: the intent row is committed before the (here trivial) launch call, as for clouds.
  // This computer, as the registry's local-kind provider makes it.
  const local = providers().find((d) => d.kind === "local")?.local;
  if (!local) throw new Error("no local provider is registered");
  const provider = local(run.machine, run.pricePerHour);
  const offer = provider.offer();
  const intentId = `${jobId}-a${attempt.n}`;
  const machine = ledger.recordMachineIntent({ intentId, jobId, attemptId: attempt.id, provider: "local", offer, pricePerHour: run.pricePerHour });
  const ac = new AbortController();
  const rec = await provider.launch({ intentId, offer }, ac.signal);
  ledger.markMachineLaunched(machine.id, rec.id, rec.state, rec.launchedAt);

  const webhook = run.alerts.webhookEnv ? env[run.alerts.webhookEnv] : undefined;
  if (run.alerts.webhookEnv && !webhook) logger.warn(`alerts: $${run.alerts.webhookEnv} is not set; no webhook alerts will be sent`);
  const alerts = new AlertQueue(webhook, new Set(run.alerts.on as AlertEvent[]), logger.child("alerts"));
  const alert = (a: Omit<Alert, "jobName">) => alerts.send({ ...a, jobName: run.jobName });
  alert({ event: "started", title: prior === 0 ? "started on this machine" : `resumed (attempt ${attempt.n})` });

  const alerted = new Set(ledger.listEvents(jobId, { kind: "budget_alert" }).map((e) => Number(JSON.parse(e.data_json ?? "{}").fraction)));
  const watcher = new JobWatcher(run.monitor, run.budget, alerted);
  for (const s of run.steps) if (s.metrics) watcher.follow(s.metrics);
  const done = new Set(ledger.listEvents(jobId, { kind: "step_done" }).map((e) => e.reason));

  let outcome: StepOutcome = { state: "done", reason: "completed" };
  try {
    for (const step of run.steps) {
      if (done.has(step.name)) {
        logger.info(`step ${step.name}: already done, skipping`);
        continue;
      }
      if (opts.signal.aborted) {
        outcome = { state: "stopped", reason: "supervisor received a stop signal" };
        break;
      }
      outcome = await runStep(step, { run, ledger, layout, attemptId: attempt.id, watcher, alert, opts });
      if (outcome.state !== "done") break;
      ledger.addEvent({ jobId, attemptId: attempt.id, kind: "step_done", reason: step.name });
      await verifyArtifacts(step, ledger, jobId, logger);
    }
  } catch (e) {
    logger.error(`supervisor failed: ${errorMessage(e)}`, { stack: e instanceof Error ? e.stack : undefined });
    outcome = { state: "failed", reason: `supervisor error: ${errorMessage(e)}` };
  }

  const final: JobState = outcome.state === "done" ? "succeeded" : outcome.state;
  await provider.terminate(rec.id, ac.signal);
  ledger.markMachineTerminated(machine.id, `job ${final}`);
  ledger.setProcesses(jobId, { workloadPid: null });
  ledger.endAttempt(attempt.id, final, outcome.reason);
  ledger.transitionJob(jobId, final, outcome.reason, outcome.data);
  const spent = totalCost(ledger.listMachines(jobId), Date.now());
  alert({
    event: final === "succeeded" ? "done" : "failed",
    title: final === "succeeded" ? "finished" : `${final}: ${outcome.reason}`,
    detail: `cost $${spent.toFixed(2)} · report: ${layout.reportMd}`,
  });
  try {
    writeJobReport(ledger, jobId, run);
  } catch (e) {
    logger.error(`could not write the report: ${errorMessage(e)}`);
  }
  if (!(await alerts.drain(15_000))) logger.warn("some alerts were still being delivered when the supervisor exited");
  return final;
}

interface StepContext {
  run: RunFile;
  ledger: Ledger;
  layout: ReturnType<typeof jobLayout>;
  attemptId: number;
  watcher: JobWatcher;
  alert: (a: Omit<Alert, "jobName">) => void;
  opts: SupervisorOptions;
}

async function runStep(step: Step, c: StepContext): Promise<StepOutcome> {
  const { run, ledger, attemptId, watcher, alert, opts } = c;
  const jobId = run.jobId;
  const logPath = stepLogPath(c.layout, step.name);
  const fd = openSync(logPath, "a");
  let child: ChildProcess;
  try {
    // detached: the step leads its own process group, so stop signals reach everything it forked.
    child = spawn(step.argv[0]!, step.argv.slice(1), { cwd: step.cwd, env: { ...opts.env, ...step.env }, detached: true, stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
    child.once("error", (e) => resolve({ code: null, signal: null, error: errorMessage(e) }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  let exited = false;
  void exit.then(() => {
    exited = true;
  });
  const pid = child.pid;
  const startedMs = Date.now();
  ledger.setProcesses(jobId, { workloadPid: pid ?? null });
  ledger.addEvent({ jobId, attemptId, kind: "step_started", reason: step.name, data: { argv: step.argv, pid } });
  opts.logger.info(`step ${step.name}: started pid ${pid}`, { argv: step.argv });

  let stopReason: string | undefined;
  let stopping: Promise<unknown> | undefined;
  const requestStop = (reason: string, signalGroup: boolean) => {
    if (stopReason !== undefined) return;
    stopReason = reason;
    opts.logger.info(`stopping step ${step.name}: ${reason}`);
    // kiln stop has already signalled the group itself; we then only enforce the deadline.
    if (pid !== undefined) stopping = signalGroup ? stopGroup(pid, run.stopGraceMs, () => exited) : sleep(run.stopGraceMs + 5_000).then(() => stopGroup(pid, 1, () => exited));
  };
  const onAbort = () => requestStop("supervisor received a stop signal", true);
  opts.signal.addEventListener("abort", onAbort, { once: true });
  if (opts.signal.aborted) onAbort();

  const tick = () => {
    const machines = ledger.listMachines(jobId);
    const now = Date.now();
    const spent = totalCost(machines, now);
    const hours = machines.reduce((s, m) => s + machineSeconds(m, now), 0) / 3600;
    const r = watcher.tick(now, spent, hours, exited ? undefined : startedMs);
    for (const i of r.invalidLines.slice(0, 5)) opts.logger.warn(`invalid metrics line ${i.file}:${i.lineNo}: ${i.error}`);
    for (const f of r.findings) {
      ledger.addEvent({ jobId, attemptId, kind: f.kind, reason: f.message, data: f.step === undefined ? undefined : { step: f.step } });
      alert({ event: FINDING_ALERT[f.kind], title: f.message });
    }
    for (const f of r.budgetCrossed) {
      ledger.addEvent({ jobId, attemptId, kind: "budget_alert", reason: `${Math.round(f * 100)}% of the budget spent ($${spent.toFixed(2)})`, data: { fraction: f } });
      alert({ event: "budget", title: `${Math.round(f * 100)}% of the budget spent`, detail: `$${spent.toFixed(2)} of $${run.budget.maxUsd?.toFixed(2)}` });
    }
    if (r.stop && !exited) {
      ledger.addEvent({ jobId, attemptId, kind: "budget_stop", reason: r.stop.reason });
      requestStop(r.stop.reason, true);
    }
    const job = ledger.getJob(jobId);
    if (job?.state === "stopping" && stopReason === undefined) {
      const ev = ledger.listEvents(jobId, { kind: "job_state" }).at(-1);
      requestStop(ev?.reason ?? "kiln stop", false);
    }
  };

  let result: Awaited<typeof exit> | undefined;
  while (result === undefined) {
    tick();
    result = await Promise.race([exit, sleep(run.monitor.tickMs).then(() => undefined)]);
  }
  opts.signal.removeEventListener("abort", onAbort);
  await stopping;
  tick();
  ledger.setProcesses(jobId, { workloadPid: null });
  const how = result.error ?? (result.signal ? `killed by ${result.signal}` : `exit code ${result.code}`);
  ledger.addEvent({ jobId, attemptId, kind: "step_exit", reason: `${step.name}: ${how}`, data: { code: result.code, signal: result.signal } });
  opts.logger.info(`step ${step.name}: ${how}`);
  if (stopReason !== undefined) return { state: "stopped", reason: stopReason };
  if (result.code === 0) return { state: "done", reason: "completed" };
  const tail = tailLines(logPath);
  return { state: "failed", reason: `step ${step.name} failed (${how}); see ${logPath}`, data: { logTail: tail } };
}

async function verifyArtifacts(step: Step, ledger: Ledger, jobId: string, logger: Logger): Promise<void> {
  if (!step.outputDir || !step.metrics) return;
  // Only this step's own declarations: relative artifact paths resolve against its output dir.
  const mine = new JobProgress();
  mine.apply(new MetricsReader(step.metrics).read().lines);
  for (const a of mine.artifacts.values()) {
    const check = await checkArtifact(step.outputDir, a);
    ledger.recordArtifact({ jobId, path: check.path, size: check.size, sha256: check.sha256, ...(check.role ? { role: check.role } : {}), verified: check.verified });
    if (!check.verified) logger.warn(`artifact ${check.path} failed verification: ${check.problem}`);
  }
}

/**
 * Following a job from a terminal: progress lines while it runs (`kiln run` in the foreground) or its
 * logs as they grow (`kiln logs -f`). Both loops have no deadline — a job may run for days — but are
 * abortable (Ctrl-C detaches; the job keeps running) and end when the job reaches a terminal state.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { isTerminal, type JobRecord, type Ledger } from "../../store/index.js";
import { totalCost } from "../cost/index.js";
import { sleep } from "../../base/deadline.js";
import { jobLayout, readRunFile, stepLogPath } from "../job/index.js";
import { progressLine } from "../monitor/format.js";
import { isJobProcess } from "../supervisor/process.js";
import { reconcileJobs } from "./control.js";
import { progressOf } from "./view.js";

/**
 * After the final state is written the supervisor still writes the report and flushes alerts; wait
 * for it (bounded) so that whoever followed the job finds the report in place.
 */
async function settle(job: JobRecord, signal: AbortSignal, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && isJobProcess(job.supervisor_pid, job.id) && !signal.aborted) await sleep(50, signal).catch(() => undefined);
}

const STEP_ACTIVITY: Record<string, string> = {
  "python-env": "setting up the Python environment (first run only; a few minutes)…",
  train: "loading the model and extracting activations…",
  probe: "training and scoring the PII probe…",
};

/**
 * What the job is doing when its training metrics do not say: the step the supervisor started last.
 * During training the metrics speak for themselves; after it (the probe) the line keeps the SAE's final
 * numbers and says what runs now.
 */
function activityOf(ledger: Ledger, jobId: string, state: JobRecord["state"], trainStarted: boolean): string | undefined {
  if (state === "created") return "starting the supervisor…";
  const step = ledger.listEvents(jobId, { kind: "step_started" }).at(-1)?.reason ?? undefined;
  if (step === undefined || (step === "train" && trainStarted) || isTerminal(state)) return undefined;
  return STEP_ACTIVITY[step] ?? `step ${step} running…`;
}

export interface FollowOptions {
  intervalMs: number;
  signal: AbortSignal;
}

/** Resolves with the job's final record, or `undefined` when aborted (detached). */
export async function followProgress(ledger: Ledger, jobsDir: string, jobId: string, onLine: (line: string) => void, o: FollowOptions): Promise<JobRecord | undefined> {
  const maxUsd = readRunFile(jobLayout(jobsDir, jobId).runFile).budget.maxUsd;
  for (;;) {
    if (o.signal.aborted) return undefined;
    reconcileJobs(ledger);
    const job = ledger.getJob(jobId)!;
    const spent = totalCost(ledger.listMachines(jobId), Date.now());
    const progress = progressOf(jobsDir, jobId);
    onLine(progressLine(progress, { spentUsd: spent, maxUsd }, activityOf(ledger, jobId, job.state, progress.latestTrain() !== undefined)));
    if (isTerminal(job.state)) {
      await settle(job, o.signal);
      return job;
    }
    try {
      await sleep(o.intervalMs, o.signal);
    } catch {
      return undefined;
    }
  }
}

/** Byte-offset tailer over a job's step logs, in step order. */
export class LogTail {
  private readonly offsets = new Map<string, number>();
  private lastFile: string | undefined;

  constructor(
    private readonly jobsDir: string,
    private readonly jobId: string,
    private readonly onlyStep?: string,
  ) {}

  /** New text since the last call, with a `==> step.log <==` header when the file changes. */
  read(): string {
    const layout = jobLayout(this.jobsDir, this.jobId);
    let out = "";
    for (const step of readRunFile(layout.runFile).steps) {
      if (this.onlyStep !== undefined && step.name !== this.onlyStep) continue;
      const path = stepLogPath(layout, step.name);
      if (!existsSync(path)) continue;
      const fd = openSync(path, "r");
      try {
        const size = fstatSync(fd).size;
        const from = this.offsets.get(path) ?? 0;
        if (size <= from) continue;
        const buf = Buffer.alloc(size - from);
        readSync(fd, buf, 0, buf.length, from);
        this.offsets.set(path, size);
        if (this.lastFile !== path) out += `==> ${step.name}.log <==\n`;
        this.lastFile = path;
        out += buf.toString("utf8");
      } finally {
        closeSync(fd);
      }
    }
    return out;
  }
}

export async function followLogs(ledger: Ledger, jobId: string, tail: LogTail, onText: (t: string) => void, o: FollowOptions): Promise<JobRecord | undefined> {
  for (;;) {
    if (o.signal.aborted) return undefined;
    reconcileJobs(ledger);
    const job = ledger.getJob(jobId)!;
    const text = tail.read();
    if (text) onText(text);
    if (isTerminal(job.state)) {
      await settle(job, o.signal);
      const rest = tail.read();
      if (rest) onText(rest);
      return job;
    }
    try {
      await sleep(o.intervalMs, o.signal);
    } catch {
      return undefined;
    }
  }
}

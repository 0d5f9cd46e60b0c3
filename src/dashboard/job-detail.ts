/**
 * The job page's ledger-side content: the step timeline of each attempt (the ledger writes a `step`
 * event before each lifecycle step acts, and the local supervisor a `step_started` per pipeline step),
 * how each attempt ended, the artifacts and where they are, the spend over time for the burn-down, and
 * the tail of the job's logs.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, readdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import type { ArtifactRecord, AttemptRecord, EventRecord, JobRecord, Ledger, MachineLedgerRecord } from "../store/index.js";
import { billed, offerOf } from "./jobs.js";

export interface StepSegment {
  name: string;
  startedAt: string;
  /** Null while the step is still running. */
  endedAt: string | null;
  durationS: number;
  /** Alerts, warnings, failed step exits and the attempt's own failure, if it ended in this step. */
  errors: string[];
}

export interface AttemptDetail {
  attempt: AttemptRecord;
  machines: (MachineLedgerRecord & { costUsd: number; label: string })[];
  costUsd: number;
  durationS: number;
  steps: StepSegment[];
}

// Events that mean something went wrong, shown against the step they happened in.
const TROUBLE = new Set(["alert", "warning", "budget_stop", "error"]);

function troubleOf(e: EventRecord): string | undefined {
  if (TROUBLE.has(e.kind)) return e.reason ?? e.kind;
  if (e.kind === "step_exit" && e.data_json) {
    try {
      const d = JSON.parse(e.data_json) as { code?: unknown };
      if (typeof d.code === "number" && d.code !== 0) return e.reason ?? `exit ${d.code}`;
    } catch {
      return undefined;
    }
  }
  if (e.kind === "launch" && e.data_json?.includes('"why"')) return e.reason ?? undefined;
  return undefined;
}

const ms = (iso: string) => Date.parse(iso);

/** Each attempt's steps in order, with durations; the job's planning (created → first attempt) comes first as "plan". */
export function attemptDetails(ledger: Ledger, job: JobRecord, nowMs: number): AttemptDetail[] {
  const events = ledger.listEvents(job.id);
  const machines = ledger.listMachines(job.id);
  return ledger.listAttempts(job.id).map((a, i) => {
    const end = a.ended_at ? ms(a.ended_at) : nowMs;
    const mine = events.filter((e) => e.attempt_id === a.id);
    const marks = mine.filter((e) => e.kind === "step" || e.kind === "step_started").map((e) => ({ name: (e.kind === "step" ? e.to_state : e.reason) ?? "?", at: e.ts }));
    if (i === 0) marks.unshift({ name: "plan", at: job.created_at });
    const steps: StepSegment[] = marks.map((m, k) => {
      const following = marks[k + 1]?.at;
      const next = following ?? a.ended_at;
      const to = next ? ms(next) : end;
      // The last step owns everything up to the attempt's end, the moment it ended included (the exit that ended it).
      const within = (t: number) => t >= ms(m.at) && (following === undefined ? t <= to : t < to);
      const errors = mine.filter((e) => within(ms(e.ts))).flatMap((e) => troubleOf(e) ?? []);
      return { name: m.name, startedAt: m.at, endedAt: next ?? null, durationS: Math.max(0, (to - ms(m.at)) / 1000), errors };
    });
    const last = steps.at(-1);
    if (last && a.reason && ["failed", "preempted", "lost", "interrupted"].includes(a.state)) last.errors.push(`${a.state}: ${a.reason}`);
    const ms_ = machines
      .filter((m) => m.attempt_id === a.id)
      .map((m) => {
        const o = offerOf(m);
        return { ...m, costUsd: billed(m, nowMs), label: [m.provider_id ?? m.intent_id, o.instanceType, o.region].filter(Boolean).join(" · ") };
      });
    return { attempt: a, machines: ms_, costUsd: ms_.reduce((s, m) => s + m.costUsd, 0), durationS: Math.max(0, (end - ms(a.started_at)) / 1000), steps };
  });
}

/** The job's spend at each moment billing changed (launches, terminations) and now: piecewise linear between them. */
export function spendOverTime(machines: readonly MachineLedgerRecord[], since: string, nowMs: number): [number, number][] {
  const t0 = ms(since);
  const times = new Set<number>([t0, nowMs]);
  for (const m of machines) {
    if (m.launched_at) times.add(ms(m.launched_at));
    if (m.terminated_at) times.add(ms(m.terminated_at));
  }
  return [...times]
    .filter((t) => t >= t0 && t <= nowMs)
    .sort((a, b) => a - b)
    .map((t) => [(t - t0) / 60_000, machines.reduce((s, m) => s + billed(m, t), 0)]);
}

export interface ArtifactWhere extends ArtifactRecord {
  localPath: string;
  present: boolean;
}

/** Artifacts with the file they name on this computer (cloud jobs record paths relative to outputs/). */
export function artifactsOf(ledger: Ledger, job: JobRecord): ArtifactWhere[] {
  return ledger.listArtifacts(job.id).map((a) => {
    const localPath = isAbsolute(a.path) ? a.path : join(job.job_dir, "outputs", a.path);
    return { ...a, localPath, present: existsSync(localPath) };
  });
}

const TAIL_BYTES = 64 * 1024;

/** The last `lines` lines of the job's step logs (newest log last), read from the end: a log of gigabytes costs 64 KiB per file. */
export function logTail(job: JobRecord, lines: number): { file: string; text: string }[] {
  const dir = join(job.job_dir, "logs");
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith(".log") && d.name !== "kiln-debug.log")
    .map((d) => join(dir, d.name));
  const out: { file: string; text: string; mtime: number }[] = [];
  for (const path of files) {
    const fd = openSync(path, "r");
    try {
      const st = fstatSync(fd);
      if (st.size === 0) continue;
      const from = Math.max(0, st.size - TAIL_BYTES);
      const buf = Buffer.alloc(st.size - from);
      readSync(fd, buf, 0, buf.length, from);
      let text = buf.toString("utf8");
      // A read that starts mid-file starts mid-line: drop that partial first line.
      if (from > 0) text = text.slice(text.indexOf("\n") + 1);
      out.push({ file: path.slice(dir.length + 1), text: text.split("\n").slice(-lines - 1).join("\n"), mtime: st.mtimeMs });
    } finally {
      closeSync(fd);
    }
  }
  return out.sort((a, b) => a.mtime - b.mtime).map(({ file, text }) => ({ file, text }));
}

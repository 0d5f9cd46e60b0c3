/**
 * Watching a cloud run from the laptop: every tick, check the run's status, pull new outputs
 * (metrics.jsonl included, so progress and reports work as for local runs), price the spend from the
 * ledger (billed price per second since launch) and project the total at the current ETA. Alerts at
 * the configured fractions; stops one polling interval plus a teardown reserve *before* the cap, so
 * spend stays under it while teardown fits the reserve, and passes it by at most one interval otherwise.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { sleep, unlessAborted } from "../../base/deadline.js";
import { errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { MachineAccess } from "../../remote/access.js";
import { readFrom } from "../../remote/session/log-follow.js";
import { runStatus } from "../../remote/session/run.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import type { Ledger } from "../../store/index.js";
import { evaluateBudget } from "../budget/index.js";
import type { MachineRecord, Provider } from "../../providers/provider.js";
import { machineSeconds, totalCost } from "../cost/index.js";
import { crashPoint } from "./crash.js";
import { readNotice } from "./notice.js";

/**
 * How a monitored run ended. `lost`: the machine went away or could not be reached (the reason says
 * which); `preempted`: the provider reclaimed it (spot). Both end the attempt, and the job may recover on
 * a new one.
 */
export type RunOutcome =
  | { kind: "exited"; code: number }
  /** `gone`: the provider says the machine no longer runs (nothing more can be read from it). */
  | { kind: "lost"; reason?: string; gone?: true }
  /** `gone` absent: a reclaim notice came first, the run checkpointed and exited, the machine still answers. */
  | { kind: "preempted"; reason: string; gone?: true }
  | { kind: "budget"; reason: string }
  | { kind: "aborted" };

export interface Progress {
  step?: number;
  totalSteps?: number;
  loss?: number;
  etaS?: number;
}

/** The latest progress in a metrics.jsonl (unknown lines and half-written tails are skipped). */
export function readProgress(metricsPath: string): Progress {
  try {
    return progressFrom(readFileSync(metricsPath, "utf8"));
  } catch {
    return {};
  }
}

export function progressFrom(text: string): Progress {
  const p: Progress = {};
  for (const line of text.split("\n")) {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof v !== "object" || v === null) continue;
    const r = v as Record<string, unknown>;
    const num = (k: string) => (typeof r[k] === "number" ? (r[k] as number) : undefined);
    if (r["kind"] === "start" && num("total_steps") !== undefined) p.totalSteps = num("total_steps");
    if (r["kind"] === "train") {
      p.step = num("step") ?? p.step;
      p.loss = num("loss") ?? p.loss;
      p.etaS = num("eta_s") ?? p.etaS;
    }
  }
  return p;
}

/** How many checkpoints the engine has reported saving (docs/metrics-protocol.md `checkpoint_saved`). */
export function checkpointsIn(text: string): number {
  return text.match(/"kind":\s*"checkpoint_saved"/g)?.length ?? 0;
}

export function progressText(p: Progress, spentUsd: number, projectedUsd: number, maxUsd: number): string {
  const step = p.step === undefined ? "starting" : p.totalSteps ? `step ${p.step}/${p.totalSteps} (${Math.round((100 * p.step) / p.totalSteps)}%)` : `step ${p.step}`;
  const loss = p.loss === undefined ? "" : ` loss ${p.loss.toPrecision(3)}`;
  const eta = p.etaS === undefined ? "" : ` · ETA ${Math.ceil(p.etaS)} s`;
  return `${step}${loss} · $${spentUsd.toFixed(4)} spent, ~$${projectedUsd.toFixed(4)} projected of $${maxUsd.toFixed(2)} cap${eta}`;
}

export interface MonitorOptions {
  conn: MachineAccess;
  ledger: Ledger;
  jobId: string;
  machineRowId: number;
  runDir: string;
  remoteOutputs: string;
  localOutputs: string;
  /** Where the one-line progress is written for `kiln run` / `kiln status` to show. */
  progressFile: string;
  budget: { maxUsd: number; maxHours?: number | undefined; alertFractions: readonly number[] };
  pollMs: number;
  /** `artifacts.sync_interval`: how often new or changed outputs (and the step logs) are pulled. */
  syncIntervalMs: number;
  /** The machine's step-log dir and its local copy, pulled with the outputs. */
  logs?: { remote: string; local: string };
  /** Time kept in hand for checkpoint, pull, verify and terminate after the stop decision. */
  teardownReserveMs: number;
  /** How long one tick's SSH work may take (default: 3 polling intervals, at least 30 s). */
  tickMs?: number;
  /** Give the run up as lost when the machine cannot be reached for this long (default 10 min). */
  unreachableMs?: number;
  /**
   * Ask the provider about the machine too, every `everyMs` (≤ 15 s): a machine the provider says is
   * reclaimed or gone ends the run at once, instead of after minutes of failed SSH.
   */
  provider?: { provider: Provider; id: string; everyMs?: number };
  /** Stop for the cap at this time (ms since epoch) whatever the spend says: the watchdog's deadline, less a margin. */
  stopAt?: number;
  /** Where the on-machine notice watcher records a reclaim notice (./notice.ts): a run that exits after one was preempted. */
  noticeFile?: string;
  /**
   * The cloud's notice window (descriptor.reclaimNotice.seconds): a machine the provider already calls reclaimed
   * but not yet terminated (GCE shows a preempting VM as STOPPING for its 30 s) is still read for this long, so
   * the final checkpoint the notice triggered is pulled before the machine is written off.
   */
  noticeWindowMs?: number;
  /** Upkeep on the machine each tick (renewing the watchdog's store credentials); a failure is retried next tick. */
  onTick?(signal: AbortSignal): Promise<void>;
  signal: AbortSignal;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/** Tail the machine's metrics.jsonl by byte offset: cheap per tick, and never races a growing file. */
class MetricsTail {
  #offset = 0;
  #text = "";
  constructor(
    private readonly conn: MachineAccess,
    private readonly path: string,
  ) {}
  async read(signal: AbortSignal): Promise<string> {
    for (;;) {
      const chunk = await readFrom(this.conn, this.path, this.#offset, 1 << 20, signal).catch(() => Buffer.alloc(0));
      if (chunk.length === 0) return this.#text;
      this.#offset += chunk.length;
      this.#text += chunk.toString("utf8");
    }
  }
}

export async function monitorRun(o: MonitorOptions): Promise<RunOutcome> {
  const alerted = new Set<number>();
  let sawTraining = false;
  const metrics = new MetricsTail(o.conn, `${o.remoteOutputs}/sae/metrics.jsonl`);
  let lastReached = Date.now();
  const sync: SyncState = { at: Date.now(), checkpoints: 0, busy: false };
  const lastAsked: AskState = { at: 0 };
  for (;;) {
    if (o.signal.aborted) return { kind: "aborted" };
    const seen: TickSeen = { progress: {}, reachedAt: 0 };
    // The provider first: SSH to a machine being taken away can stall, and must not delay hearing that it is gone.
    const goneFirst = await askProvider(o, lastAsked);
    if (goneFirst) return goneFirst;
    // Each tick's SSH work has a deadline: a stalled connection ends the tick, not the monitor. A sync that
    // runs out resumes next tick (partial downloads continue where they stopped). The deadline is a plain
    // timer, not AbortSignal.timeout: that one does not keep Node's event loop alive, and a driver whose
    // only pending work is an SSH request nothing will answer would then exit (code 0) mid-job.
    const tickEnd = new AbortController();
    const deadline = setTimeout(() => tickEnd.abort(new Error("the monitor tick's deadline passed")), o.tickMs ?? Math.max(30_000, 3 * o.pollMs));
    const tick = AbortSignal.any([o.signal, tickEnd.signal]);
    // The provider keeps being asked while SSH works, so a machine taken away ends the tick whatever SSH is
    // waiting on (a reconnect to an address that no longer answers, a queue behind a dying channel).
    const watch = watchProvider(o, lastAsked, tick, tickEnd);
    try {
      // Raced against the tick: a callee that ignores the abort (ssh2 can leave a request unanswered when its
      // connection drops) must not hold the monitor. Work that outlives its race still owns the connection's
      // state (the metrics offset, a pull's state file), so no new SSH work starts until it settles; a machine
      // that never answers again is written off by the unreachable deadline below.
      if (sync.busy) throw new Error("the previous tick's SSH work is still running");
      sync.busy = true;
      const work = tickWork(o, metrics, sync, seen, tick).finally(() => {
        sync.busy = false;
      });
      await unlessAborted(work, tick, "the monitor tick");
    } catch (e) {
      // A dropped connection or a file that changed mid-copy is retried next tick; the run keeps going.
      o.logger.debug(`monitor tick incomplete: ${errorMessage(e)}`);
    }
    clearTimeout(deadline);
    tickEnd.abort();
    // What the tick saw before it ended counts, even if a later part failed (a run that exited while its
    // outputs' pull was cut short has still exited).
    const { status, progress: p } = seen;
    if (status) lastReached = seen.reachedAt;
    const goneDuring = await watch;
    if (goneDuring && status?.state !== "exited") return goneDuring;
    const row = o.ledger.getMachine(o.machineRowId)!;
    const now = Date.now();
    // The cap is the job's, across its attempts: every machine it has had, at its billed time.
    const machines = o.ledger.listMachines(o.jobId);
    const spent = totalCost(machines, now);
    const projected = spent + (row.price_per_hour * (p.etaS ?? 0)) / 3600;
    writeFileSync(o.progressFile, `${progressText(p, spent, projected, o.budget.maxUsd)}\n`);
    if (p.step !== undefined && !sawTraining) {
      sawTraining = true;
      crashPoint("during-training", o.env);
    }
    const hours = machines.reduce((sum, m) => sum + machineSeconds(m, now), 0) / 3600;
    // Margin: the next check comes a polling interval later, and teardown itself takes time at this price.
    const margin = (row.price_per_hour * (o.pollMs + o.teardownReserveMs)) / 3_600_000;
    const d = evaluateBudget({ ...o.budget, maxUsd: Math.max(0, o.budget.maxUsd - margin) }, spent, hours, alerted);
    for (const f of d.crossed) {
      alerted.add(f);
      o.ledger.addEvent({ jobId: o.jobId, machineId: o.machineRowId, kind: "budget_alert", reason: `spent $${spent.toFixed(4)}: ${Math.round(f * 100)}% of max_usd $${o.budget.maxUsd.toFixed(2)}`, data: { fraction: f, spentUsd: spent } });
      o.logger.warn(`budget: ${Math.round(f * 100)}% of $${o.budget.maxUsd.toFixed(2)} spent`);
    }
    if (status?.state === "exited") {
      const notice = o.noticeFile ? await readNotice(o.conn, o.noticeFile, o.signal).catch(() => undefined) : undefined;
      return notice ? { kind: "preempted", reason: `${notice}: the run checkpointed and exited before the reclaim` } : { kind: "exited", code: status.code };
    }
    if (status?.state === "lost") return { kind: "lost", reason: "the run's process group is gone without an exit code" };
    const gone = await askProvider(o, lastAsked);
    if (gone) return gone;
    // A machine unreachable for this long is written off (and terminated by the caller): it may bill forever.
    if (Date.now() - lastReached > (o.unreachableMs ?? 600_000)) return { kind: "lost", reason: `unreachable over SSH for ${Math.round((o.unreachableMs ?? 600_000) / 1000)} s` };
    if (d.stop) return { kind: "budget", reason: `${d.stop.reason} (stopping one polling interval early, at $${spent.toFixed(4)})` };
    if (o.stopAt !== undefined && Date.now() >= o.stopAt) return { kind: "budget", reason: `the cap is near (at $${spent.toFixed(4)}): stopping before the on-machine watchdog has to` };
    try {
      await sleep(o.pollMs, o.signal);
    } catch {
      return { kind: "aborted" };
    }
  }
}

/** When outputs were last pulled, how many checkpoints had been reported then, and whether a tick's work runs. */
interface SyncState {
  at: number;
  checkpoints: number;
  busy: boolean;
}

/** What one tick learnt, filled in as it goes (a tick cut short keeps what it saw before). */
interface TickSeen {
  status?: Awaited<ReturnType<typeof runStatus>>;
  progress: Progress;
  /** When the machine last answered over SSH. */
  reachedAt: number;
}

/**
 * One tick's SSH work: the run's status, the new metrics lines, and the outputs and step logs when the sync
 * interval has passed or a new checkpoint was reported (a machine taken away then loses at most one
 * checkpoint interval of work). Artifacts are not copied every tick: hashing costs the machine.
 */
async function tickWork(o: MonitorOptions, metrics: MetricsTail, sync: SyncState, seen: TickSeen, tick: AbortSignal): Promise<void> {
  seen.status = await runStatus(o.conn, o.runDir, tick);
  seen.reachedAt = Date.now();
  const text = await metrics.read(tick);
  seen.progress = progressFrom(text);
  const checkpoints = checkpointsIn(text);
  if (Date.now() - sync.at >= o.syncIntervalMs || checkpoints > sync.checkpoints) {
    await pullArtifacts(o.conn, o.remoteOutputs, o.localOutputs, { signal: tick });
    if (o.logs) await pullArtifacts(o.conn, o.logs.remote, o.logs.local, { signal: tick });
    sync.at = Date.now();
    sync.checkpoints = checkpoints;
  }
  // Upkeep on the machine (renewing the watchdog's store credentials), inside the tick's race like the rest.
  await o.onTick?.(tick);
}

/** When the provider was last asked, and since when it has called the machine reclaimed while it still stands. */
interface AskState {
  at: number;
  reclaimSeenAt?: number;
}

/**
 * Ask the provider every `everyMs` until `tick` ends; a machine it calls gone aborts the tick (through `end`)
 * and is the outcome.
 */
async function watchProvider(o: MonitorOptions, last: AskState, tick: AbortSignal, end: AbortController): Promise<RunOutcome | undefined> {
  if (!o.provider) return undefined;
  // Floored: a test's 1 ms interval must not spin while SSH works.
  const every = Math.max(250, Math.min(o.provider.everyMs ?? 15_000, 15_000));
  for (;;) {
    try {
      await sleep(Math.max(0, last.at + every - Date.now()), tick);
    } catch {
      return undefined;
    }
    const gone = await askProvider(o, last);
    if (gone) {
      end.abort();
      return gone;
    }
  }
}

/**
 * The provider's view of the machine, at most every `everyMs`: a reclaimed or gone machine ends the run. Inside
 * a cloud's notice window a reclaimed machine that still stands is given that window (and a polling interval)
 * to checkpoint and exit: the SSH side of the loop pulls what it writes.
 */
async function askProvider(o: MonitorOptions, last: AskState): Promise<RunOutcome | undefined> {
  if (!o.provider || Date.now() - last.at < Math.min(o.provider.everyMs ?? 15_000, 15_000)) return undefined;
  last.at = Date.now();
  let m: MachineRecord;
  try {
    m = await o.provider.provider.describe(o.provider.id, o.signal);
  } catch (e) {
    // The API being down is not the machine being down: SSH still decides then.
    o.logger.debug(`provider check of ${o.provider.id} failed: ${errorMessage(e)}`);
    return undefined;
  }
  const name = o.provider.provider.name;
  if (m.reclaimed) {
    const standing = m.state !== "terminated" && m.state !== "terminating";
    if (standing && o.noticeWindowMs !== undefined) {
      last.reclaimSeenAt ??= Date.now();
      if (Date.now() - last.reclaimSeenAt < o.noticeWindowMs + o.pollMs) {
        o.logger.debug(`${name} reclaims ${m.id} (${m.reclaimed.reason}); still reading it inside the notice window`);
        return undefined;
      }
    }
    return { kind: "preempted", reason: `${name} reclaimed ${m.id} (${m.reclaimed.reason})`, gone: true };
  }
  // A just-launched id may not be known yet (a lagging read); by now the run is going, so notFound means gone.
  if (m.state === "terminated" || m.state === "terminating" || m.state === "stopped" || m.state === "stopping") {
    return { kind: "lost", reason: `${name} says ${m.id} is ${m.providerState}`, gone: true };
  }
  return undefined;
}

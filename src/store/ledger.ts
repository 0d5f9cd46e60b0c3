/**
 * The ledger: Kiln's durable memory of jobs, attempts, machines, events and artifacts, in one SQLite
 * file (WAL, `synchronous=FULL`, so a committed write survives a SIGKILL or power loss). All SQL lives in
 * src/store; everything else uses this typed API. Every state change is written together with its
 * event in one transaction, so the timeline and the state can never disagree.
 *
 * @example
 *   const ledger = Ledger.open(paths.ledger);
 *   ledger.createJob({ id, name, kind: "sae-pii", specYaml, jobDir });
 *   ledger.transitionJob(id, "running", "supervisor started");
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { LedgerError } from "./errors.js";
import { migrate } from "./migrations.js";
import {
  type ArtifactRecord,
  ArtifactRow,
  type AttemptRecord,
  AttemptRow,
  type AttemptState,
  type EventRecord,
  EventRow,
  type JobRecord,
  JobRow,
  type JobLockRecord,
  JobLockRow,
  type JobState,
  type MachineLedgerRecord,
  MachineRow,
  isTerminal,
} from "./records.js";

export interface NewJob {
  id: string;
  name: string;
  kind: string;
  specYaml: string;
  jobDir: string;
  planReason?: string;
}

export interface NewEvent {
  jobId?: string | null;
  attemptId?: number | null;
  machineId?: number | null;
  kind: string;
  fromState?: string | null;
  toState?: string | null;
  reason?: string | null;
  data?: unknown;
}

export interface NewMachineIntent {
  intentId: string;
  jobId: string | null;
  attemptId: number | null;
  provider: string;
  offer: unknown;
  pricePerHour: number;
}

/** Who takes a job's lock: a process, named for messages ("kiln gc", "driver"). */
export interface JobLockHolder {
  holder: string;
  pid: number;
  /** The process's start time, so a reused pid is not mistaken for the holder. */
  pidStart?: string;
}

const nowIso = (): string => new Date().toISOString();

export class Ledger {
  private constructor(
    readonly db: Database.Database,
    private readonly clock: () => string,
  ) {}

  /** Open (creating and migrating when needed) the ledger at `path`; `":memory:"` for tests. */
  static open(path: string, opts: { clock?: () => string } = {}): Ledger {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(path);
      db.pragma("journal_mode = WAL");
      // FULL: the WAL is fsynced at every commit, so "committed" means "on disk" even across power loss.
      db.pragma("synchronous = FULL");
      db.pragma("foreign_keys = ON");
      // Several processes (the CLI, the supervisor) share the file; wait for a writer instead of failing.
      db.pragma("busy_timeout = 5000");
      migrate(db);
    } catch (e) {
      throw new LedgerError("ledger_open", `cannot open the ledger at ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return new Ledger(db, opts.clock ?? nowIso);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  now(): string {
    return this.clock();
  }

  // ---- jobs ----

  createJob(job: NewJob): JobRecord {
    const ts = this.clock();
    const hash = createHash("sha256").update(job.specYaml).digest("hex");
    this.db.transaction(() => {
      this.db
        .prepare(
          "INSERT INTO jobs (id, name, kind, spec_yaml, spec_hash, state, job_dir, plan_reason, created_at) VALUES (?, ?, ?, ?, ?, 'created', ?, ?, ?)",
        )
        .run(job.id, job.name, job.kind, job.specYaml, hash, job.jobDir, job.planReason ?? null, ts);
      this.insertEvent({ jobId: job.id, kind: "job_state", toState: "created", reason: "job created" }, ts);
    })();
    return this.getJob(job.id)!;
  }

  getJob(id: string): JobRecord | undefined {
    const row = this.db.prepare("SELECT * FROM jobs WHERE id = ?").get(id);
    return row === undefined ? undefined : JobRow.parse(row);
  }

  /** Jobs by id, or by a unique id prefix / exact name (newest first when names repeat). */
  findJob(ref: string): JobRecord | undefined {
    const exact = this.getJob(ref);
    if (exact) return exact;
    const rows = this.db.prepare("SELECT * FROM jobs WHERE id LIKE ? || '%' OR name = ? ORDER BY created_at DESC").all(ref, ref);
    return rows.length > 0 ? JobRow.parse(rows[0]) : undefined;
  }

  listJobs(): JobRecord[] {
    return this.db
      .prepare("SELECT * FROM jobs ORDER BY created_at DESC, id DESC")
      .all()
      .map((r) => JobRow.parse(r));
  }

  /** Move a job to `to`, recording the transition as an event in the same transaction. */
  transitionJob(id: string, to: JobState, reason: string, data?: unknown): JobRecord {
    const ts = this.clock();
    this.db.transaction(() => {
      const cur = this.getJob(id);
      if (!cur) throw new LedgerError("ledger_no_job", `no job ${id} in the ledger`);
      const endedAt = isTerminal(to) ? ts : null;
      this.db.prepare("UPDATE jobs SET state = ?, ended_at = ? WHERE id = ?").run(to, endedAt, id);
      this.insertEvent({ jobId: id, kind: "job_state", fromState: cur.state, toState: to, reason, data }, ts);
    }).immediate();
    return this.getJob(id)!;
  }

  setProcesses(id: string, pids: { supervisorPid?: number | null; workloadPid?: number | null }): void {
    if (pids.supervisorPid !== undefined) this.db.prepare("UPDATE jobs SET supervisor_pid = ? WHERE id = ?").run(pids.supervisorPid, id);
    if (pids.workloadPid !== undefined) this.db.prepare("UPDATE jobs SET workload_pid = ? WHERE id = ?").run(pids.workloadPid, id);
  }

  // ---- attempts ----

  startAttempt(jobId: string, provider: string): AttemptRecord {
    const ts = this.clock();
    let id = 0;
    this.db.transaction(() => {
      const row = this.db.prepare("SELECT COALESCE(MAX(n), 0) AS n FROM attempts WHERE job_id = ?").get(jobId) as { n: number };
      const r = this.db
        .prepare("INSERT INTO attempts (job_id, n, provider, state, started_at) VALUES (?, ?, ?, 'running', ?)")
        .run(jobId, row.n + 1, provider, ts);
      id = Number(r.lastInsertRowid);
      this.insertEvent({ jobId, attemptId: id, kind: "attempt_state", toState: "running", reason: `attempt ${row.n + 1} on ${provider}` }, ts);
    }).immediate();
    return this.getAttempt(id)!;
  }

  endAttempt(attemptId: number, state: AttemptState, reason: string): void {
    const ts = this.clock();
    this.db.transaction(() => {
      const cur = this.getAttempt(attemptId);
      if (!cur) throw new LedgerError("ledger_no_attempt", `no attempt ${attemptId} in the ledger`);
      this.db.prepare("UPDATE attempts SET state = ?, ended_at = ?, reason = ? WHERE id = ?").run(state, ts, reason, attemptId);
      this.insertEvent({ jobId: cur.job_id, attemptId, kind: "attempt_state", fromState: cur.state, toState: state, reason }, ts);
    }).immediate();
  }

  /** The provider an attempt's machine came from, once launch failed over to another provider. */
  setAttemptProvider(attemptId: number, provider: string): void {
    this.db.prepare("UPDATE attempts SET provider = ? WHERE id = ?").run(provider, attemptId);
  }

  /** Record the step an attempt enters, before the step acts: a crash is then attributable to it. */
  setAttemptStep(attemptId: number, step: string, reason?: string): void {
    const ts = this.clock();
    this.db.transaction(() => {
      const cur = this.getAttempt(attemptId);
      if (!cur) throw new LedgerError("ledger_no_attempt", `no attempt ${attemptId} in the ledger`);
      this.db.prepare("UPDATE attempts SET step = ? WHERE id = ?").run(step, attemptId);
      this.insertEvent({ jobId: cur.job_id, attemptId, kind: "step", fromState: cur.step, toState: step, reason: reason ?? step }, ts);
    }).immediate();
  }

  getAttempt(id: number): AttemptRecord | undefined {
    const row = this.db.prepare("SELECT * FROM attempts WHERE id = ?").get(id);
    return row === undefined ? undefined : AttemptRow.parse(row);
  }

  listAttempts(jobId: string): AttemptRecord[] {
    return this.db
      .prepare("SELECT * FROM attempts WHERE job_id = ? ORDER BY n")
      .all(jobId)
      .map((r) => AttemptRow.parse(r));
  }

  /** Every job's attempts, by job then number: one query for views over many jobs. Read-only. */
  listAllAttempts(): AttemptRecord[] {
    return this.db
      .prepare("SELECT * FROM attempts ORDER BY job_id, n")
      .all()
      .map((r) => AttemptRow.parse(r));
  }

  // ---- machines ----

  /** Commit the intent to launch *before* calling the provider, so a lost launch response can be reconciled. */
  recordMachineIntent(m: NewMachineIntent): MachineLedgerRecord {
    const ts = this.clock();
    let id = 0;
    this.db.transaction(() => {
      const r = this.db
        .prepare(
          "INSERT INTO machines (intent_id, job_id, attempt_id, provider, offer_json, price_per_hour, state, created_at) VALUES (?, ?, ?, ?, ?, ?, 'intent', ?)",
        )
        .run(m.intentId, m.jobId, m.attemptId, m.provider, JSON.stringify(m.offer), m.pricePerHour, ts);
      id = Number(r.lastInsertRowid);
      this.insertEvent({ jobId: m.jobId, attemptId: m.attemptId, machineId: id, kind: "machine_state", toState: "intent", reason: `launching on ${m.provider}` }, ts);
    }).immediate();
    return this.getMachine(id)!;
  }

  /** The provider accepted the launch: billing starts at `launchedAt` (default now). */
  markMachineLaunched(id: number, providerId: string, state: string, launchedAt?: string): void {
    this.updateMachine(id, state, "launched", (ts) => {
      this.db.prepare("UPDATE machines SET provider_id = ?, launched_at = ? WHERE id = ?").run(providerId, launchedAt ?? ts, id);
    });
  }

  setMachineState(id: number, state: string, reason: string): void {
    this.updateMachine(id, state, reason, () => {});
  }

  /** Termination is *confirmed* (the provider says terminated): billing ends here. */
  markMachineTerminated(id: number, reason: string, terminatedAt?: string): void {
    this.updateMachine(id, "terminated", reason, (ts) => {
      this.db.prepare("UPDATE machines SET terminated_at = COALESCE(terminated_at, ?) WHERE id = ?").run(terminatedAt ?? ts, id);
    });
  }

  private updateMachine(id: number, state: string, reason: string, extra: (ts: string) => void): void {
    const ts = this.clock();
    this.db.transaction(() => {
      const cur = this.getMachine(id);
      if (!cur) throw new LedgerError("ledger_no_machine", `no machine ${id} in the ledger`);
      this.db.prepare("UPDATE machines SET state = ? WHERE id = ?").run(state, id);
      extra(ts);
      this.insertEvent({ jobId: cur.job_id, attemptId: cur.attempt_id, machineId: id, kind: "machine_state", fromState: cur.state, toState: state, reason }, ts);
    }).immediate();
  }

  getMachine(id: number): MachineLedgerRecord | undefined {
    const row = this.db.prepare("SELECT * FROM machines WHERE id = ?").get(id);
    return row === undefined ? undefined : MachineRow.parse(row);
  }

  listMachines(jobId?: string): MachineLedgerRecord[] {
    const rows =
      jobId === undefined
        ? this.db.prepare("SELECT * FROM machines ORDER BY id").all()
        : this.db.prepare("SELECT * FROM machines WHERE job_id = ? ORDER BY id").all(jobId);
    return rows.map((r) => MachineRow.parse(r));
  }

  // ---- events ----

  addEvent(e: NewEvent): number {
    return this.insertEvent(e, this.clock());
  }

  listEvents(jobId: string, opts: { kind?: string } = {}): EventRecord[] {
    const rows =
      opts.kind === undefined
        ? this.db.prepare("SELECT * FROM events WHERE job_id = ? ORDER BY id").all(jobId)
        : this.db.prepare("SELECT * FROM events WHERE job_id = ? AND kind = ? ORDER BY id").all(jobId, opts.kind);
    return rows.map((r) => EventRow.parse(r));
  }

  /** Every job's events of one kind, oldest first (counters across jobs: launches, gc sweeps). Read-only. */
  listEventsOfKind(kind: string): EventRecord[] {
    return this.db
      .prepare("SELECT * FROM events WHERE kind = ? ORDER BY id")
      .all(kind)
      .map((r) => EventRow.parse(r));
  }

  /** The id of a job's newest event (0 when none): a cheap "has anything changed?" for live views. Read-only. */
  lastEventId(jobId: string): number {
    const row = this.db.prepare("SELECT COALESCE(MAX(id), 0) AS id FROM events WHERE job_id = ?").get(jobId) as { id: number };
    return row.id;
  }

  private insertEvent(e: NewEvent, ts: string): number {
    const r = this.db
      .prepare(
        "INSERT INTO events (ts, job_id, attempt_id, machine_id, kind, from_state, to_state, reason, data_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
      .run(
        ts,
        e.jobId ?? null,
        e.attemptId ?? null,
        e.machineId ?? null,
        e.kind,
        e.fromState ?? null,
        e.toState ?? null,
        e.reason ?? null,
        e.data === undefined ? null : JSON.stringify(e.data),
      );
    return Number(r.lastInsertRowid);
  }

  // ---- artifacts ----

  recordArtifact(a: { jobId: string; path: string; size: number; sha256: string; role?: string; verified: boolean }): void {
    const ts = this.clock();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO artifacts (job_id, path, size, sha256, role, verified_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (job_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, role = excluded.role, verified_at = excluded.verified_at`,
        )
        .run(a.jobId, a.path, a.size, a.sha256, a.role ?? null, a.verified ? ts : null);
      this.insertEvent({ jobId: a.jobId, kind: "artifact", reason: `${a.verified ? "verified" : "recorded"} ${a.path}`, data: { sha256: a.sha256, size: a.size } }, ts);
    }).immediate();
  }

  listArtifacts(jobId: string): ArtifactRecord[] {
    return this.db
      .prepare("SELECT * FROM artifacts WHERE job_id = ? ORDER BY path")
      .all(jobId)
      .map((r) => ArtifactRow.parse(r));
  }

  // ---- installation and job locks ----

  /** This installation's id (8 hex, made with the ledger): every machine name carries it. */
  installationId(): string {
    const row = this.db.prepare("SELECT id FROM installation LIMIT 1").get() as { id: string } | undefined;
    if (!row) throw new LedgerError("ledger_no_installation", "the ledger has no installation id (a damaged database?)");
    return row.id;
  }

  /**
   * Take job `jobId`'s lock for `holder`. A lock someone holds — another process, or this one — is busy
   * unless `isStale(lock)` says its holder is gone; then it is taken over, and the takeover is an event.
   * Not re-entrant, on purpose: two recoveries in one process must not both proceed. Atomic across
   * processes (an IMMEDIATE transaction). Returns the lock's `acquiredAt`, which release needs.
   */
  acquireJobLock(jobId: string, holder: JobLockHolder, isStale: (lock: JobLockRecord) => boolean): { acquired: true; acquiredAt: string; tookOver?: JobLockRecord } | { acquired: false; heldBy: JobLockRecord } {
    return this.db.transaction(() => {
      // A fresh timestamp per acquisition (the clock may repeat within a millisecond): it names this hold.
      const ts = `${this.clock()}#${Math.random().toString(36).slice(2, 8)}`;
      const cur = this.getJobLock(jobId);
      if (cur && !isStale(cur)) return { acquired: false as const, heldBy: cur };
      if (cur) this.insertEvent({ jobId, kind: "lock", reason: `took over the job's lock from ${cur.holder} (pid ${cur.pid}, gone) for ${holder.holder}` }, this.clock());
      this.db
        .prepare("INSERT INTO job_locks (job_id, holder, pid, pid_start, acquired_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, pid_start = excluded.pid_start, acquired_at = excluded.acquired_at")
        .run(jobId, holder.holder, holder.pid, holder.pidStart ?? null, ts);
      return { acquired: true as const, acquiredAt: ts, ...(cur && { tookOver: cur }) };
    }).immediate();
  }

  /** Release the hold that began at `acquiredAt` (a lock taken over since then is someone else's). */
  releaseJobLock(jobId: string, acquiredAt: string): void {
    this.db.prepare("DELETE FROM job_locks WHERE job_id = ? AND acquired_at = ?").run(jobId, acquiredAt);
  }

  getJobLock(jobId: string): JobLockRecord | undefined {
    const row = this.db.prepare("SELECT * FROM job_locks WHERE job_id = ?").get(jobId);
    return row === undefined ? undefined : JobLockRow.parse(row);
  }

  integrityCheck(): string {
    const row = this.db.pragma("integrity_check", { simple: true });
    return String(row);
  }
}

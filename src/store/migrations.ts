/**
 * The ledger's schema, as an ordered list of migrations. Migration `i` (0-based) brings the database to
 * version `i + 1`; {@link migrate} applies the missing ones in one transaction each, so a crash mid-way
 * leaves the database at the previous version, never half-migrated. Never edit a released migration:
 * append a new one.
 */
import type Database from "better-sqlite3";

export const MIGRATIONS: readonly string[] = [
  // 1: the first schema. Timestamps are ISO-8601 UTC strings with milliseconds.
  `
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec_yaml TEXT NOT NULL,
    spec_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    job_dir TEXT NOT NULL,
    plan_reason TEXT,
    supervisor_pid INTEGER,
    workload_pid INTEGER,
    created_at TEXT NOT NULL,
    ended_at TEXT
  );
  CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    n INTEGER NOT NULL,
    provider TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    reason TEXT,
    UNIQUE (job_id, n)
  );
  CREATE TABLE machines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    intent_id TEXT NOT NULL UNIQUE,
    job_id TEXT REFERENCES jobs(id),
    attempt_id INTEGER REFERENCES attempts(id),
    provider TEXT NOT NULL,
    provider_id TEXT,
    offer_json TEXT NOT NULL,
    price_per_hour REAL NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    launched_at TEXT,
    terminated_at TEXT
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    job_id TEXT,
    attempt_id INTEGER,
    machine_id INTEGER,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT,
    data_json TEXT
  );
  CREATE INDEX events_job ON events(job_id, id);
  CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    role TEXT,
    verified_at TEXT,
    UNIQUE (job_id, path)
  );
  `,
  // 2: the installation's id (in every machine name, so installations sharing an account never touch each
  // other's machines) and one lock per job (one recoverer at a time: recovery, pull and teardown).
  `
  CREATE TABLE installation (id TEXT NOT NULL);
  INSERT INTO installation (id) VALUES (lower(hex(randomblob(4))));
  CREATE TABLE job_locks (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    acquired_at TEXT NOT NULL
  );
  `,
  // 3: the lifecycle step each attempt is in (written before the step acts, so a crash is attributable to
  // a step and `kiln status` shows it).
  `
  ALTER TABLE attempts ADD COLUMN step TEXT;
  `,
];

/** Bring `db` to the newest schema version. Returns the version it is at afterwards. */
export function migrate(db: Database.Database): number {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number | null } | undefined;
  let version = row?.v ?? 0;
  if (version > MIGRATIONS.length) {
    throw new Error(`ledger schema version ${version} is newer than this Kiln (${MIGRATIONS.length}); upgrade Kiln`);
  }
  for (; version < MIGRATIONS.length; version++) {
    const sql = MIGRATIONS[version]!;
    const next = version + 1;
    db.transaction(() => {
      db.exec(sql);
      db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(next);
    }).immediate();
  }
  return version;
}

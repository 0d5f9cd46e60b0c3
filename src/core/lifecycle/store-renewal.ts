/**
 * Keeping the watchdog's store credentials alive while the client is here. Temporary credentials (STS
 * AssumeRole with the job's session policy) last at most 12 h, so a cap further away than that would find
 * them expired at the push: keep-data would then keep the machine (spend past the cap), stop-billing would
 * lose the outputs. Each monitor tick checks how long they have left; when it is under
 * {@link RENEW_BEFORE_S} (and the cap is still ahead), fresh ones are minted for what the cap has left plus an
 * hour, written to the machine atomically, and the renewal is recorded. A client that is gone cannot renew:
 * credentials are minted at start for as long as AWS allows, and `kiln plan` says what holds past that.
 * GCS's downscoped token cannot be minted for longer than its source's hour, so it is renewed near its end.
 */
import { storeCredentialsForJob, storeLocation } from "../artifact-store/index.js";
import { replaceStoreConfig } from "../watchdog/index.js";
import type { Attempt } from "./attempt-context.js";
import { capSecondsLeft } from "./cap.js";

/** Renew when less than this is left (two hours: a client that checks in every tick has many tries). */
export const RENEW_BEFORE_S = 2 * 3600;
/**
 * A GCS token lives an hour at most, however long the cap is ahead (../artifact-store/gcs-token.ts): renew it
 * with 20 minutes left, about every 40 minutes, rather than at every tick under RENEW_BEFORE_S.
 */
export const GCS_RENEW_BEFORE_S = 20 * 60;

/** Renew the attempt's store credentials when they run out before the cap does; a no-op otherwise. */
export async function renewStoreCredentials(a: Attempt, signal: AbortSignal, now = Date.now()): Promise<boolean> {
  const w = a.watchdog;
  const push = w?.push;
  const store = a.job.spec.artifacts.store;
  const expiresAt = push?.config.credentials.expiresAtMs;
  if (!w || !push || !store || expiresAt === undefined || !a.conn || !a.row) return false;
  const renewBeforeS = Number(a.job.o.env["KILN_STORE_RENEW_BEFORE_S"] ?? "") || (push.config.credentials.kind === "gcs-token" ? GCS_RENEW_BEFORE_S : RENEW_BEFORE_S);
  if (expiresAt - now > renewBeforeS * 1000) return false;
  const capLeftS = capSecondsLeft(a.job.ledger, a.job.c, a.row.id, now);
  if (!(capLeftS > 0)) return false;
  // Valid until an hour past the cap (the push comes at the cap), within AWS's 15 min – 12 h bounds.
  const validForS = Math.min(12 * 3600, Math.max(900, Math.ceil(capLeftS) + 3600));
  const credentials = await storeCredentialsForJob({ store, location: storeLocation(store, a.job.c.jobId), env: a.job.o.env, validForS, sessionName: `kiln-${a.job.c.jobId}`, signal });
  const config = { ...push.config, credentials };
  await replaceStoreConfig(a.conn, w.dir, config);
  a.watchdog = { ...w, push: { ...push, config } };
  const until = credentials.expiresAtMs === undefined ? "without expiry" : `until ${new Date(credentials.expiresAtMs).toISOString()}`;
  a.job.ledger.addEvent({ jobId: a.job.c.jobId, attemptId: a.id, machineId: a.row.id, kind: "store_credentials_renewed", reason: `the watchdog's store credentials were renewed ${until}` });
  return true;
}

/**
 * Keeping the watchdog's store credentials alive while the client is here. Temporary credentials (STS
 * AssumeRole with the job's session policy) last at most 12 h, so a cap further away than that would find
 * them expired at the push: keep-data would then keep the machine (spend past the cap), stop-billing would
 * lose the outputs. Each monitor tick checks how long they have left; when it is under
 * {@link RENEW_BEFORE_S} (and the cap is still ahead), fresh ones are minted for what the cap has left plus an
 * hour, written to the machine atomically, and the renewal is recorded. A client that is gone cannot renew:
 * credentials are minted at start for as long as AWS allows, and `kiln plan` says what holds past that.
 * GCS's upload sessions and Kiln's Azure blob SASes last a week, and are renewed the same way near their end.
 */
import { storeCredentialsForJob, storeLocation } from "../artifact-store/index.js";
import { replaceStoreConfig } from "../watchdog/index.js";
import type { Attempt } from "./attempt-context.js";
import { capSecondsLeft } from "./cap.js";

/** Renew when less than this is left (two hours: a client that checks in every tick has many tries). */
export const RENEW_BEFORE_S = 2 * 3600;

/** Renew the attempt's store credentials when they run out before the cap does; a no-op otherwise. */
export async function renewStoreCredentials(a: Attempt, signal: AbortSignal, now = Date.now()): Promise<boolean> {
  const w = a.watchdog;
  const push = w?.push;
  const store = a.job.spec.artifacts.store;
  const expiresAt = push?.config.credentials.expiresAtMs;
  if (!w || !push || !store || expiresAt === undefined || !a.conn || !a.row) return false;
  const renewBeforeS = Number(a.job.o.env["KILN_STORE_RENEW_BEFORE_S"] ?? "") || RENEW_BEFORE_S;
  if (expiresAt - now > renewBeforeS * 1000) return false;
  const capLeftS = capSecondsLeft(a.job.ledger, a.job.c, a.row.id, now);
  if (!(capLeftS > 0)) return false;
  // Valid until an hour past the cap (the push comes at the cap); each store clamps it to its own bounds
  // (AWS STS 15 min – 12 h, Azure's grants up to a week; GCS's sessions always last a week).
  const validForS = Math.max(900, Math.ceil(capLeftS) + 3600);
  const credentials = await storeCredentialsForJob({ store, location: storeLocation(store, a.job.c.jobId), env: a.job.o.env, validForS, sessionName: `kiln-${a.job.c.jobId}`, signal });
  const config = { ...push.config, credentials };
  await replaceStoreConfig(a.conn, w.dir, config);
  a.watchdog = { ...w, push: { ...push, config } };
  const until = credentials.expiresAtMs === undefined ? "without expiry" : `until ${new Date(credentials.expiresAtMs).toISOString()}`;
  a.job.ledger.addEvent({ jobId: a.job.c.jobId, attemptId: a.id, machineId: a.row.id, kind: "store_credentials_renewed", reason: `the watchdog's store credentials were renewed ${until}` });
  return true;
}

/**
 * Pulling artifacts every `artifacts.sync_interval` while a job runs, so a machine that dies (spot
 * reclaim, a provider outage) loses at most one interval of checkpoints. A failed round is logged and
 * retried next round — the machine may be briefly unreachable — and {@link ArtifactSync.last} tells the
 * lifecycle how fresh the local copy is. The final, blocking check before teardown is
 * assertSafeToTearDown, not this loop.
 */
import { sleep } from "../../base/deadline.js";
import { AbortedError, errorMessage } from "../../base/errors.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { MachineAccess } from "../access.js";
import { type PullResult, pullArtifacts } from "./pull.js";

export interface ArtifactSyncOptions {
  intervalMs: number;
  signal: AbortSignal;
  logger?: Logger;
  onRound?: (r: { ok: true; result: PullResult } | { ok: false; error: unknown }) => void;
}

export class ArtifactSync {
  last: { at: Date; result: PullResult } | undefined;
  lastError: unknown;
  rounds = 0;
  private readonly done: Promise<void>;

  constructor(
    private readonly conn: MachineAccess,
    private readonly remoteDir: string,
    private readonly localDir: string,
    private readonly opts: ArtifactSyncOptions,
  ) {
    this.done = this.loop();
  }

  /** One round now (also what `kiln pull` does). */
  async once(): Promise<PullResult> {
    const result = await pullArtifacts(this.conn, this.remoteDir, this.localDir, { signal: this.opts.signal, ...(this.opts.logger ? { logger: this.opts.logger } : {}) });
    this.last = { at: new Date(), result };
    return result;
  }

  private async loop(): Promise<void> {
    const logger = this.opts.logger ?? nullLogger;
    while (!this.opts.signal.aborted) {
      try {
        await sleep(this.opts.intervalMs, this.opts.signal);
      } catch {
        return; // Aborted: the loop ends quietly; the caller owns the signal.
      }
      this.rounds++;
      try {
        const result = await this.once();
        this.lastError = undefined;
        if (result.pulled.length > 0) logger.info(`synced ${result.pulled.length} artifact files`, { bytes: result.bytes });
        this.opts.onRound?.({ ok: true, result });
      } catch (e) {
        if (e instanceof AbortedError || this.opts.signal.aborted) return;
        this.lastError = e;
        logger.warn(`artifact sync failed, retrying in ${Math.round(this.opts.intervalMs / 1000)} s: ${errorMessage(e)}`);
        this.opts.onRound?.({ ok: false, error: e });
      }
    }
  }

  /** Resolves once the loop has ended (after the signal aborts). */
  stopped(): Promise<void> {
    return this.done;
  }
}

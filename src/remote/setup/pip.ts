/**
 * `pip install` with a retry policy decided by the failure: network trouble (timeouts, resets, 5xx
 * from the index, DNS) is retried with backoff until a deadline; a resolver conflict or a missing
 * distribution fails at once, since trying again cannot fix it. A failure carries pip's last lines.
 */
import { KilnError } from "../../base/errors.js";
import { sleep } from "../../base/deadline.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import type { Exec } from "../exec.js";

const TRANSIENT =
  /(Read timed out|ConnectTimeout|Connection (?:reset|refused|aborted)|Temporary failure in name resolution|Name or service not known|HTTP error 5\d\d|50[234] Server Error|RemoteDisconnected|IncompleteRead|ProtocolError|Max retries exceeded|SSLError|Could not fetch URL)/i;

export interface PipOptions {
  attempts?: number;
  /** Total time for all attempts. */
  deadlineMs?: number;
  /** First backoff; doubles per attempt (default 5 s). */
  retryDelayMs?: number;
  /** Extra pip arguments, e.g. ["--extra-index-url", url] or ["--no-index", "--no-build-isolation"]. */
  extraArgs?: readonly string[];
  signal?: AbortSignal;
  logger?: Logger;
}

export const isTransientPipFailure = (output: string): boolean => TRANSIENT.test(output);

const tail = (s: string, n = 15) => s.trim().split("\n").slice(-n).join("\n");

/** Run `<python> -m pip install <targets…>` under the retry policy. */
export async function pipInstall(exec: Exec, python: string, targets: readonly string[], opts: PipOptions = {}): Promise<void> {
  const logger = opts.logger ?? nullLogger;
  const attempts = opts.attempts ?? 3;
  const deadline = Date.now() + (opts.deadlineMs ?? 30 * 60_000);
  const argv = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off", ...(opts.extraArgs ?? []), ...targets];
  let last = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const r = await exec.run(argv, { timeoutMs: left, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (r.code === 0) return;
    last = `${r.stdout}\n${r.stderr}`;
    if (!isTransientPipFailure(last)) {
      throw new KilnError("pip_install_failed", `pip install ${targets.join(" ")} failed on ${exec.where} (exit ${r.code}):\n${tail(last)}`, {
        details: { argv, code: r.code, attempt },
      });
    }
    const wait = Math.min((opts.retryDelayMs ?? 5_000) * 2 ** (attempt - 1), Math.max(0, deadline - Date.now()));
    logger.warn(`pip install failed with a network error (attempt ${attempt}/${attempts}); retrying in ${Math.round(wait / 1000)} s`);
    if (attempt < attempts) await sleep(wait, opts.signal);
  }
  throw new KilnError("pip_install_failed", `pip install ${targets.join(" ")} kept failing on ${exec.where} with network errors:\n${tail(last)}`, {
    details: { argv, attempts },
  });
}

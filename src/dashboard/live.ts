/**
 * Pages that update without a reload: a Server-Sent Events stream per open page. Each tick re-renders the
 * page's fragments (the job's metrics are followed incrementally, see ./metrics-cache.ts) and sends only
 * the ones that changed; the page's script swaps them in place. A job that has ended gets its final
 * fragments and an `end` event. Every stream has a deadline (`maxMs`): it then closes and the browser's
 * EventSource reconnects on its own, so no connection is held forever; closing the server or the tab ends
 * it at once.
 */
import type { ServerResponse } from "node:http";
import { sleep } from "../base/deadline.js";
import { errorMessage } from "../base/errors.js";
import type { Logger } from "../base/logger.js";

export interface LiveFeed {
  /** The page's fragments by `data-live` name, rendered now. */
  fragments(): Record<string, string>;
  /** True once nothing more can change (the job ended): the stream then sends its last update and `end`. */
  ended(): boolean;
}

export interface LiveOptions {
  intervalMs: number;
  maxMs: number;
  signal: AbortSignal;
  logger: Logger;
}

const HEARTBEAT_MS = 15_000;

export async function streamLive(res: ServerResponse, feed: LiveFeed, o: LiveOptions): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
  // Reconnect after 2 s when the stream ends without `end` (its deadline, a restart of the dashboard).
  res.write("retry: 2000\n\n");
  const gone = new AbortController();
  res.on("close", () => gone.abort());
  const signal = AbortSignal.any([o.signal, gone.signal, AbortSignal.timeout(o.maxMs)]);
  const sent = new Map<string, string>();
  let quietSince = Date.now();
  try {
    while (!signal.aborted) {
      const ended = feed.ended();
      const changed: Record<string, string> = {};
      for (const [k, v] of Object.entries(feed.fragments())) {
        if (sent.get(k) === v) continue;
        changed[k] = v;
        sent.set(k, v);
      }
      if (Object.keys(changed).length > 0) {
        res.write(`event: update\ndata: ${JSON.stringify(changed)}\n\n`);
        quietSince = Date.now();
      } else if (Date.now() - quietSince > HEARTBEAT_MS) {
        res.write(": still here\n\n");
        quietSince = Date.now();
      }
      if (ended) {
        res.write("event: end\ndata: {}\n\n");
        break;
      }
      await sleep(o.intervalMs, signal).catch(() => undefined);
    }
  } catch (e) {
    // A page that fails to render mid-stream: the browser keeps what it has and reconnects.
    o.logger.debug("dashboard: live stream failed", { error: errorMessage(e) });
  } finally {
    res.end();
  }
}

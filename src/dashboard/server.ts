/**
 * `kiln dashboard`'s server, as a library: it prints nothing and never exits; the CLI command prints the
 * URL and decides when to close it. Plain node:http (no framework to ship), one ledger handle for reads,
 * actions on their own handles.
 *
 * Every request passes the access check first (./access.ts): on loopback the Host header must be the
 * loopback address; anywhere else the one-time token. Responses carry a Content-Security-Policy that
 * allows only the dashboard's own script and no framing, and are never cached (they show live money).
 *
 * @example
 *   const d = await startDashboard({ paths, env, port: 0 });
 *   logger.info(`dashboard at ${d.url}`);
 *   await d.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { UserError, errorMessage } from "../base/errors.js";
import { type Logger, nullLogger } from "../base/logger.js";
import type { OfferSources } from "../core/catalog/index.js";
import type { KilnPaths } from "../core/home.js";
import { Ledger } from "../store/index.js";
import { COOKIE, Confirmations, carriesToken, isLoopback, loopbackHosts, newToken } from "./access.js";
import { ActionLog } from "./actions.js";
import type { DashboardContext } from "./context.js";
import { esc, raw } from "./html.js";
import { MetricsCache } from "./metrics-cache.js";
import { page } from "./pages/layout.js";
import { HttpError, createRouter } from "./routes.js";

export interface DashboardOptions {
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  /** Default 127.0.0.1. Anything but loopback requires the token on every request. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Require the token even on loopback (tests; a shared machine). Off loopback it is always required. */
  requireToken?: boolean;
  logger?: Logger;
  liveOffers?: () => Promise<OfferSources["live"]>;
  /** How often a live page re-renders (default 1000 ms), and how long one stream lives before the browser reconnects (default 5 min). */
  liveIntervalMs?: number;
  liveMaxMs?: number;
  now?: () => number;
}

export interface RunningDashboard {
  /** The URL to open; with the token in it when one is required. */
  url: string;
  host: string;
  port: number;
  /** Set when requests must carry it. */
  token: string | undefined;
  /** Stop accepting, end live streams and running actions' waits, close the ledger. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  // Not no-referrer: with it Chromium sends `Origin: null` on the page's own form posts, which the origin check refuses.
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

function errorPage(res: ServerResponse, status: number, message: string, extra: Record<string, string> = {}): void {
  const body = page({ title: `Error ${status}`, body: raw(`<h1>Error ${status}</h1><p role="alert">${esc(message)}</p><p><a href="/">All jobs</a></p>`) });
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", ...extra });
  res.end(body);
}

/** The host:port of an Origin header; undefined for "null" (sandboxed pages, file:) or garbage. */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  const host = o.host ?? "127.0.0.1";
  const logger = o.logger ?? nullLogger;
  const token = o.requireToken || !isLoopback(host) ? newToken() : undefined;
  const closing = new AbortController();
  const ledger = Ledger.open(o.paths.ledger);
  const ctx: DashboardContext = {
    ledger,
    paths: o.paths,
    metrics: new MetricsCache(o.paths.jobs),
    plans: new Map(),
    actions: new ActionLog({ openLedger: () => Ledger.open(o.paths.ledger), paths: o.paths, env: o.env, logger, signal: closing.signal }),
    confirmations: new Confirmations(o.now),
    liveOffers: o.liveOffers,
    now: o.now ?? Date.now,
  };
  const route = createRouter(ctx, { liveIntervalMs: o.liveIntervalMs ?? 1000, liveMaxMs: o.liveMaxMs ?? 300_000, logger });
  let allowedHosts = new Set<string>();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const rawUrl = req.url ?? "/";
    // Refused before any parsing: URL() would quietly resolve "/jobs/../x" to "/x".
    if (/(^|\/)\.\.?(\/|$)|%2e%2e|%2f|%5c|\\/i.test(rawUrl.split("?")[0]!)) return errorPage(res, 400, "path traversal is not allowed");
    if (token === undefined && !allowedHosts.has((req.headers.host ?? "").toLowerCase())) return errorPage(res, 403, "this dashboard answers only to its loopback address");
    const url = new URL(rawUrl, "http://dashboard.invalid");
    if (token !== undefined) {
      const creds = { authorization: req.headers.authorization, cookie: req.headers.cookie, queryToken: url.searchParams.get("token") };
      if (!carriesToken(creds, token)) return errorPage(res, 401, "this dashboard needs its token: open the URL `kiln dashboard` printed", { "www-authenticate": 'Bearer realm="kiln"' });
      if (url.searchParams.has("token") && req.method === "GET") {
        // Trade the token in the URL for a cookie, and drop it from the address bar (and history).
        url.searchParams.delete("token");
        res.writeHead(303, { location: `${url.pathname}${url.search}`, "set-cookie": `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/` });
        return void res.end();
      }
    }
    const method = req.method ?? "GET";
    // A form posted from another origin is refused even with a valid cookie (belt and braces to the confirm token).
    const origin = req.headers.origin;
    if (method === "POST" && origin !== undefined && hostOf(origin) !== req.headers.host) return errorPage(res, 403, "cross-origin requests are not allowed");
    const gone = new AbortController();
    res.on("close", () => gone.abort());
    try {
      await route({ method, url, req, res, signal: AbortSignal.any([closing.signal, gone.signal]) });
    } catch (e) {
      if (e instanceof HttpError) return errorPage(res, e.status, e.message);
      if (e instanceof UserError) return errorPage(res, 400, `${e.message}${e.hint ? ` (${e.hint})` : ""}`);
      logger.error(`dashboard: ${method} ${url.pathname} failed: ${errorMessage(e)}`, { stack: e instanceof Error ? e.stack : undefined });
      return errorPage(res, 500, "internal error (details in the debug log)");
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      logger.error(`dashboard: ${errorMessage(e)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // Slow or stalled clients are cut off; live streams are responses, which these limits do not cut.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new UserError(`cannot serve on ${host}:${o.port ?? 0}: ${errorMessage(e)}`, { cause: e, hint: "choose another --port, or stop what is using it" })));
    server.listen(o.port ?? 0, host, () => resolve());
  }).catch((e: unknown) => {
    ledger.close();
    throw e;
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  allowedHosts = new Set([...loopbackHosts(port), `${shown}:${port}`]);
  const url = `http://${shown}:${port}/${token ? `?token=${token}` : ""}`;
  return {
    url,
    host,
    port,
    token,
    async close() {
      closing.abort(new Error("dashboard closing"));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await ctx.actions.settled();
      ledger.close();
    },
  };
}

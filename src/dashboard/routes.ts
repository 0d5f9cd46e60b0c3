/**
 * What each URL answers. Job ids in paths are checked against a strict pattern before the ledger is
 * asked (exact id, no prefix matching), so `..`, encoded slashes and anything else that is not an id
 * never reaches a file path; a job's files are found from its ledger row, never from the URL.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { UserError } from "../base/errors.js";
import type { Logger } from "../base/logger.js";
import { isTerminal } from "../store/index.js";
import { ACTIONS, type ActionName } from "./actions.js";
import { SCRIPT, STYLESHEET } from "./assets.js";
import type { DashboardContext } from "./context.js";
import { streamLive } from "./live.js";
import { confirmPage } from "./pages/confirm.js";
import { jobFragments, jobHref, jobPage } from "./pages/job.js";
import { jobsFragment, jobsPage } from "./pages/jobs.js";
import { machinesPage } from "./pages/machines.js";
import { filtersFrom, offersPage } from "./pages/offers.js";
import { type FinalValues, prometheusText } from "./prometheus.js";

/** A request the server has already authorised, with what a handler needs. */
export interface RouteRequest {
  method: string;
  url: URL;
  req: IncomingMessage;
  res: ServerResponse;
  signal: AbortSignal;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const MAX_BODY = 8 * 1024;
const BODY_DEADLINE_MS = 10_000;

export interface RouteOptions {
  liveIntervalMs: number;
  liveMaxMs: number;
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

const sendHtml = (res: ServerResponse, status: number, body: string) => send(res, status, "text/html; charset=utf-8", body);

function jobOf(ctx: DashboardContext, raw: string) {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "malformed job id");
  }
  if (!JOB_ID.test(id) || id.includes("..")) throw new HttpError(400, "not a job id");
  const job = ctx.ledger.getJob(id);
  if (!job) throw new HttpError(404, `no job ${id} in the ledger`);
  return job;
}

const actionOf = (raw: string): ActionName => {
  if (!(ACTIONS as readonly string[]).includes(raw)) throw new HttpError(404, `no action ${raw}`);
  return raw as ActionName;
};

/** An urlencoded form, size-capped and read under a deadline (a client that stalls mid-body is cut off). */
async function readForm(req: IncomingMessage, signal: AbortSignal): Promise<URLSearchParams> {
  const type = req.headers["content-type"] ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) throw new HttpError(415, "expected a form (application/x-www-form-urlencoded)");
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(BODY_DEADLINE_MS)]);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req.iterator({ destroyOnReturn: true })) {
    if (deadline.aborted) throw new HttpError(408, "the request body took too long");
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, "request body too large");
    chunks.push(c as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

const ConfirmForm = z.object({ confirm: z.string().min(1).max(200) });

export function createRouter(ctx: DashboardContext, o: RouteOptions & { logger: Logger }) {
  const finals: FinalValues = new Map();
  return async function route(r: RouteRequest): Promise<void> {
    const { method, url, res } = r;
    const path = url.pathname;
    const get = method === "GET" || method === "HEAD";
    if (get && (path === "/" || path === "/jobs")) return sendHtml(res, 200, jobsPage(ctx, Number(url.searchParams.get("page") ?? "1") || 1));
    if (get && path === "/assets/app.css") return send(res, 200, "text/css; charset=utf-8", STYLESHEET, { "cache-control": "max-age=300" });
    if (get && path === "/assets/app.js") return send(res, 200, "text/javascript; charset=utf-8", SCRIPT, { "cache-control": "max-age=300" });
    if (get && path === "/machines") return sendHtml(res, 200, machinesPage(ctx));
    if (get && path === "/offers") {
      const p = await offersPage(ctx, filtersFrom(url.searchParams), r.signal);
      return sendHtml(res, p.status, p.body);
    }
    if (get && path === "/metrics") return send(res, 200, "text/plain; version=0.0.4; charset=utf-8", prometheusText(ctx, finals));
    if (get && path === "/live/jobs") {
      const pageNo = Number(url.searchParams.get("page") ?? "1") || 1;
      return streamLive(res, { fragments: () => ({ jobs: jobsFragment(ctx, pageNo).text }), ended: () => false }, { intervalMs: o.liveIntervalMs, maxMs: o.liveMaxMs, signal: r.signal, logger: o.logger });
    }
    const m = /^\/jobs\/([^/]+)(?:\/(live|confirm\/([^/]+)|actions\/([^/]+)))?$/.exec(path);
    if (!m) throw new HttpError(404, "no such page");
    const job = jobOf(ctx, m[1]!);
    if (m[2] === undefined) {
      if (!get) throw new HttpError(405, "GET only");
      return sendHtml(res, 200, jobPage(ctx, job));
    }
    if (m[2] === "live") {
      if (!get) throw new HttpError(405, "GET only");
      const running = () => ctx.actions.forJob(job.id).some((a) => a.state === "running");
      return streamLive(
        res,
        {
          fragments: () => {
            const now = ctx.ledger.getJob(job.id) ?? job;
            return Object.fromEntries(Object.entries(jobFragments(ctx, now)).map(([k, v]) => [k, v.text]));
          },
          ended: () => isTerminal((ctx.ledger.getJob(job.id) ?? job).state) && !running(),
        },
        { intervalMs: o.liveIntervalMs, maxMs: o.liveMaxMs, signal: r.signal, logger: o.logger },
      );
    }
    if (m[3] !== undefined) {
      if (!get) throw new HttpError(405, "GET only");
      const action = actionOf(m[3]);
      return sendHtml(res, 200, confirmPage(job, action, ctx.confirmations.issue(action, job.id)));
    }
    const action = actionOf(m[4]!);
    if (method !== "POST") throw new HttpError(405, "POST only");
    const form = ConfirmForm.safeParse(Object.fromEntries(await readForm(r.req, r.signal)));
    if (!form.success || !ctx.confirmations.check(form.data.confirm, action, job.id)) {
      throw new HttpError(403, `${action} needs its confirmation: open ${jobHref(job.id, `/confirm/${action}`)} and confirm there`);
    }
    try {
      const rec = ctx.actions.start(action, job.id);
      res.writeHead(303, { location: `${jobHref(job.id)}?action=${rec.id}#actions` });
      res.end();
    } catch (e) {
      if (e instanceof UserError) throw new HttpError(409, `${e.message}${e.hint ? ` (${e.hint})` : ""}`);
      throw e;
    }
  };
}

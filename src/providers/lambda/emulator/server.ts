/**
 * The emulator's HTTP front: a real node:http server on loopback that authenticates like Lambda
 * (Bearer, Basic base64("key:") or Basic raw key), rate-limits with token buckets (429 + Retry-After),
 * injects faults, and hands the rest to {@link LambdaRoutes}. A small unauthenticated inspection API
 * under `/__emulator/` (outside `/api/v1`, so never mistaken for Lambda's) serves other processes.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { errorJson, errors, type RouteResult } from "./render.js";

export interface RateLimit {
  perSecond: number;
  burst: number;
  launchIntervalMs: number;
  launchBurst: number;
}

/** Token bucket: `burst` tokens, refilled at `perMs` tokens per millisecond. */
export class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    private readonly burst: number,
    private readonly perMs: number,
    private readonly now: () => number,
  ) {
    this.#tokens = burst;
    this.#at = now();
  }
  /** Take a token; when none is left, the milliseconds until one is. */
  take(): { ok: true } | { ok: false; waitMs: number } {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + (t - this.#at) * this.perMs);
    this.#at = t;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true };
    }
    return { ok: false, waitMs: Math.ceil((1 - this.#tokens) / this.perMs) };
  }
}

export type Handler = (method: string, path: string, body: unknown, authorization: string | undefined, query: URLSearchParams) => Promise<HandlerAnswer>;
export type HandlerAnswer =
  | { kind: "answer"; result: RouteResult; retryAfterS?: number; delayMs?: number; lose?: boolean }
  | { kind: "hang" }
  | { kind: "json"; status: number; body: unknown }
  /** A 200 JSON body of `bytes`, streamed with back-pressure; `onSent` hears the bytes written so far. */
  | { kind: "stream"; bytes: number; onSent(n: number): void };

const API_PREFIX = "/api/v1";
const MAX_BODY = 2 * 1024 * 1024;

export async function listen(handler: Handler, host: string, port: number): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    serve(req, res, handler).catch(() => {
      if (!res.headersSent) sendJson(res, 500, errorJson(errors.unavailable(500)));
      else res.destroy();
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const bound = typeof addr === "object" && addr !== null ? addr.port : port;
  return {
    server,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        // Hanging requests (fault "hang") would keep close() waiting forever: cut every socket.
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, handler: Handler): Promise<void> {
  const url = new URL(req.url ?? "/", "http://emulator");
  const method = (req.method ?? "GET").toUpperCase();
  const raw = await readBody(req);
  if (raw === undefined) return sendJson(res, 413, errorJson(errors.invalidParameters("Request body too large.")));
  let body: unknown;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw);
    } catch {
      return sendJson(res, 400, errorJson(errors.invalidParameters("Request body is not valid JSON.")));
    }
  }
  const path = url.pathname.startsWith(API_PREFIX) ? url.pathname.slice(API_PREFIX.length) || "/" : url.pathname;
  const answer = await handler(method, url.pathname.startsWith(API_PREFIX) ? path : `!${url.pathname}`, body, req.headers.authorization, url.searchParams);
  if (answer.kind === "hang") return; // the socket stays open until the client gives up or the server closes
  if (answer.kind === "json") return sendJson(res, answer.status, answer.body);
  if (answer.kind === "stream") return streamJson(res, answer.bytes, answer.onSent);
  if (answer.delayMs) await delay(answer.delayMs);
  if (answer.lose) {
    req.socket.destroy();
    return;
  }
  const r = answer.result;
  if ("data" in r) return sendJson(res, 200, { data: r.data });
  const headers: Record<string, string> = { ...r.headers, ...(answer.retryAfterS !== undefined && { "retry-after": String(answer.retryAfterS) }) };
  sendJson(res, r.status, errorJson(r), headers);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** `{"data":["xxx…","xxx…",…]}` of about `bytes`, written 64 KiB at a time; stops when the client goes. */
async function streamJson(res: ServerResponse, bytes: number, onSent: (n: number) => void): Promise<void> {
  res.writeHead(200, { "content-type": "application/json" });
  const item = `"${"x".repeat(64 * 1024 - 3)}",`;
  let sent = 0;
  const write = async (text: string): Promise<boolean> => {
    if (res.destroyed || res.socket?.destroyed) return false;
    const ok = res.write(text);
    sent += Buffer.byteLength(text);
    onSent(sent);
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
    return !res.destroyed;
  };
  if (!(await write('{"data":['))) return;
  while (sent + item.length < bytes) if (!(await write(item))) return;
  if (await write('"x"]}')) res.end();
}

/** The key from `Authorization`, in any of the three forms the spec allows. */
export function apiKeyFrom(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const [scheme, value] = authorization.split(/\s+/, 2);
  if (!scheme || !value) return undefined;
  if (scheme.toLowerCase() === "bearer") return value;
  if (scheme.toLowerCase() !== "basic") return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  // `Basic base64("key:")` is what curl -u KEY: sends; the spec also allows the raw key.
  return decoded.endsWith(":") && /^[\x20-\x7e]+$/.test(decoded) ? decoded.slice(0, -1) : value;
}

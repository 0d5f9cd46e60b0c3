/**
 * The HTTP front every cloud emulator shares: a real node:http server on loopback that parses JSON bodies
 * and hands each request to the emulator's own handler, which answers with a status and a body in the
 * provider's dialect (its error envelope, its headers). The kit only knows the shapes every emulator
 * needs for fault injection: answer after a delay, never answer (`hang`), or act and then cut the
 * connection (`lose`, the "it happened but the response was lost" case).
 *
 * @example
 *   const http = await serveJson(async (r) => (r.path === "/v2/pods" ? { status: 200, body: pods } : { status: 404, body: { title: "Not Found" } }), { host: "127.0.0.1", port: 0 });
 *   // http.url === "http://127.0.0.1:PORT"; await http.close();
 */
import { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

export interface EmuRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the body was empty. */
  body: unknown;
  /** The body as sent (form-encoded APIs such as EC2's Query protocol parse it themselves). */
  rawBody: string;
}

export type EmuReply =
  | {
      status: number;
      /** JSON-encoded unless `text` is given. */
      body?: unknown;
      /** A non-JSON body (an HTML error page, XML), sent as is with `contentType`. */
      text?: string;
      contentType?: string;
      headers?: Record<string, string>;
      /** Wait this long before answering (a `slow` fault). */
      delayMs?: number;
    }
  /** Never answer: the client's own timeout must fire. */
  | { hang: true }
  /** The request was carried out, but the connection is cut instead of answering. */
  | { lose: true };

export type EmuHandler = (r: EmuRequest) => Promise<EmuReply>;

export interface ServeOptions {
  host: string;
  port: number;
  /** Largest accepted body; default 2 MiB. */
  maxBodyBytes?: number;
  /** The answer to a body that is not JSON (or too large), in the provider's dialect. */
  badRequest(why: string): EmuReply;
  /** The answer when the handler throws (an emulator bug must still look like a 5xx to the client). */
  internalError(): EmuReply;
  /** Content types whose body is not parsed as JSON (default: application/x-www-form-urlencoded). */
  rawContentTypes?: readonly string[];
}

export interface ServingEmulator {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function serveJson(handler: EmuHandler, o: ServeOptions): Promise<ServingEmulator> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    answer(req, res, handler, o).catch(() => {
      if (!res.headersSent) void send(res, o.internalError());
      else res.destroy();
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : o.port;
  return {
    url: `http://${o.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // A hanging request would keep close() waiting forever: cut every socket.
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, handler: EmuHandler, o: ServeOptions): Promise<void> {
  const url = new URL(req.url ?? "/", "http://emulator");
  const raw = await readBody(req, o.maxBodyBytes ?? 2 * 1024 * 1024);
  if (raw === undefined) return send(res, o.badRequest("request body too large"));
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
  const rawTypes = o.rawContentTypes ?? ["application/x-www-form-urlencoded"];
  let body: unknown;
  if (raw.length > 0 && !rawTypes.includes(type)) {
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, o.badRequest("request body is not valid JSON"));
    }
  }
  const reply = await handler({ method: (req.method ?? "GET").toUpperCase(), path: url.pathname, query: url.searchParams, headers: req.headers, body, rawBody: raw });
  if ("hang" in reply) return; // the socket stays open until the client gives up or the server closes
  if ("lose" in reply) {
    req.socket.destroy();
    return;
  }
  return send(res, reply);
}

async function send(res: ServerResponse, reply: EmuReply): Promise<void> {
  if (!("status" in reply)) return;
  if (reply.delayMs) await delay(reply.delayMs);
  const text = reply.text ?? (reply.body === undefined ? "" : JSON.stringify(reply.body));
  const type = reply.contentType ?? (reply.text === undefined ? "application/json" : "text/plain");
  res.writeHead(reply.status, { ...(text.length > 0 && { "content-type": type }), "content-length": Buffer.byteLength(text), ...reply.headers });
  res.end(text);
}

function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
    });
    req.on("end", () => resolve(size > max ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The bearer token of an `Authorization` header, or undefined. */
export function bearerToken(authorization: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
  return m?.[1];
}

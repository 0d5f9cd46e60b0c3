/**
 * (Test tooling; the build skips testing/ folders.)
 *
 * A Google Cloud Storage emulator on loopback, with state: the JSON API subset the durable store uses
 * (objects.insert as a simple media upload and as a resumable upload, objects.get for metadata and with
 * `alt=media` for bytes, objects.list) and the token exchange ADC makes for workload identity federation. There
 * is no GCS emulator with that to run offline, so this one is ours; `onExchange` lets a test check every
 * request and reply against Google's storage v1 discovery document (./gcs-discovery.ts).
 *
 * What it enforces, as GCS does (docs: cloud.google.com/storage/docs/json_api, /resumable-uploads):
 * - every storage call needs `Authorization: Bearer` with a live token (401 otherwise); a token a test
 *   registers holds objectAdmin on every bucket;
 * - a resumable upload's session URI is itself the credential for what follows (no Authorization), names its
 *   one object, and is gone (404) a week after it was opened; a finished session answers its object to
 *   whatever is sent to it;
 * - resumable chunks other than the last are multiples of 256 KiB; a chunk that does not start where the
 *   upload stands is not applied, and the 308's `Range` says where it stands; a status query naming the total
 *   when every byte is there ends the upload.
 *
 * STS does the exchange ADC asks of it for an `external_account` credential file (workload identity
 * federation: a JWT from a file exchanged at the file's `token_url` for a federated access token), so the ADC
 * path is tested through google-auth-library itself, with a subject the test registers.
 */
import { createHash, randomBytes } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface GcsExchange {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Parsed JSON body, or undefined for bytes and empty bodies. */
  body: unknown;
}
export interface GcsReply {
  status: number;
  /** JSON reply, or undefined for bytes (alt=media) and empty replies. */
  body: unknown;
}

interface Principal {
  expiresAtMs: number;
  serviceAccount: boolean;
}
interface Token {
  expiresAtMs: number;
}
interface StoredObject {
  data: Buffer;
  generation: number;
  created: string;
}
interface Session {
  bucket: string;
  name: string;
  total: number | undefined;
  chunks: Buffer[];
  received: number;
  openedAtMs: number;
  /** The object it wrote, once the last byte arrived: a status query then answers it. */
  done?: StoredObject;
}

/** Google: a resumable session can be used for a week after it was opened. */
const SESSION_LIFETIME_MS = 7 * 24 * 3600_000;

const QUANTUM = 256 * 1024;

// CRC32C (Castagnoli), as GCS reports it: base64 of the big-endian value.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32c(b: Buffer): string {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString("base64");
}

export interface GcsEmulator {
  /** The JSON API's origin; STS is at `${url}/v1/token`. */
  url: string;
  /** A service account's token, objectAdmin on every bucket, for an hour. */
  adminToken: string;
  /** Register a principal's token (a user's has no `expires_in` at STS). */
  addToken(o: { expiresInS: number; serviceAccount: boolean }): string;
  /** Accept `jwt` as a federated identity's subject token (ADC's `external_account` credentials). */
  addFederatedSubject(jwt: string): void;
  /** Make a token expire now. */
  expire(token: string): void;
  /** The bytes stored under `name`, or undefined. */
  object(bucket: string, name: string): Buffer | undefined;
  /** Replace an object's bytes behind everyone's back (a damaged copy). */
  tamper(bucket: string, name: string, data: Buffer): void;
  names(bucket: string): string[];
  /** Answer 503 to the next `n` resumable chunks that carry data (a flaky network). */
  failChunks(n: number): void;
  /** How many of those faults are still to come (0: each was answered). */
  chunkFaultsLeft(): number;
  /** Make the sessions open now (or only those whose URIs are given) `ms` older: a week old, they are gone, as Google's are. */
  ageSessions(ms: number, only?: string[]): void;
  close(): Promise<void>;
}

export async function startGcsEmulator(o: { buckets: string[]; onExchange?: (req: GcsExchange, reply: GcsReply) => void }): Promise<GcsEmulator> {
  const buckets = new Map(o.buckets.map((b) => [b, new Map<string, StoredObject>()]));
  const principals = new Map<string, Principal>();
  const tokens = new Map<string, Token>();
  const sessions = new Map<string, Session>();
  const federated = new Set<string>();
  let failChunks = 0;
  let generation = 1_700_000_000_000_000;
  const addToken = (p: Principal): string => {
    const t = `ya29.emu-${randomBytes(12).toString("hex")}`;
    principals.set(t, p);
    tokens.set(t, { expiresAtMs: p.expiresAtMs });
    return t;
  };
  const adminToken = addToken({ expiresAtMs: Date.now() + 3600_000, serviceAccount: true });

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        handle(req, res, Buffer.concat(chunks));
      } catch (e) {
        send(res, { method: req.method ?? "", path: "", query: new URLSearchParams(), body: undefined }, 500, { error: { code: 500, message: String(e) } });
      }
    });
  });

  function send(res: ServerResponse, x: GcsExchange, status: number, body?: unknown, headers: Record<string, string> = {}, bytes?: Buffer) {
    o.onExchange?.(x, { status, body });
    const payload = bytes ?? (body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body)));
    res.writeHead(status, { ...(body !== undefined && { "content-type": "application/json; charset=UTF-8" }), "content-length": String(payload.length), ...headers });
    res.end(payload);
  }
  const error = (code: number, reason: string, message: string) => ({ error: { code, message, errors: [{ message, domain: "global", reason }] } });

  function objectResource(bucket: string, name: string, ob: StoredObject, origin: string) {
    const enc = encodeURIComponent(name);
    return {
      kind: "storage#object",
      id: `${bucket}/${name}/${ob.generation}`,
      selfLink: `${origin}/storage/v1/b/${bucket}/o/${enc}`,
      mediaLink: `${origin}/download/storage/v1/b/${bucket}/o/${enc}?generation=${ob.generation}&alt=media`,
      name,
      bucket,
      generation: String(ob.generation),
      metageneration: "1",
      contentType: "application/octet-stream",
      storageClass: "STANDARD",
      size: String(ob.data.length),
      md5Hash: createHash("md5").update(ob.data).digest("base64"),
      crc32c: crc32c(ob.data),
      etag: Buffer.from(String(ob.generation)).toString("base64"),
      timeCreated: ob.created,
      updated: ob.created,
      timeStorageClassUpdated: ob.created,
    };
  }

  /** undefined when allowed; else the status and envelope to answer. */
  function denied(auth: string | undefined, permission: string, bucket: string, name?: string): [number, unknown] | undefined {
    const t = /^Bearer (.+)$/.exec(auth ?? "")?.[1];
    const tok = t === undefined ? undefined : tokens.get(t);
    if (!tok || tok.expiresAtMs <= Date.now()) return [401, error(401, "required", `Anonymous caller does not have ${permission} access to the Google Cloud Storage ${name === undefined ? `bucket ${bucket}` : "object"}, or the token is invalid or expired.`)];
    return undefined;
  }

  function sts(res: ServerResponse, x: GcsExchange, raw: Buffer) {
    const f = new URLSearchParams(raw.toString("utf8"));
    const bad = (e: string, d: string) => send(res, x, 400, { error: e, error_description: d });
    const AT = "urn:ietf:params:oauth:token-type:access_token";
    if (f.get("grant_type") !== "urn:ietf:params:oauth:grant-type:token-exchange") return bad("unsupported_grant_type", "grant_type must be token-exchange");
    if (f.get("subject_token_type") === "urn:ietf:params:oauth:token-type:jwt" && f.get("requested_token_type") === AT) {
      // Workload identity federation: a JWT for the pool's audience, a federated token in exchange.
      if (!/^\/\/iam\.googleapis\.com\/projects\/\d+\/locations\/global\/workloadIdentityPools\//.test(f.get("audience") ?? "")) return bad("invalid_target", "audience is not a workload identity pool provider");
      if (!federated.has(f.get("subject_token") ?? "")) return bad("invalid_grant", "The subject token is not trusted by the pool.");
      const t = addToken({ expiresAtMs: Date.now() + 3600_000, serviceAccount: true });
      return send(res, x, 200, { access_token: t, issued_token_type: AT, token_type: "Bearer", expires_in: 3600 });
    }
    return bad("invalid_request", "this emulator exchanges federated JWTs only (subject_token_type jwt)");
  }

  function store(bucket: string, name: string, data: Buffer) {
    const ob = { data, generation: ++generation, created: new Date().toISOString() };
    buckets.get(bucket)!.set(name, ob);
    return ob;
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer) {
    const u = new URL(req.url ?? "/", "http://x");
    const origin = `http://${req.headers.host}`;
    const path = u.pathname;
    let json: unknown;
    // A media upload's body (and a resumable chunk's) is the object's bytes, whatever its content type says.
    const media = path.startsWith("/upload/") && u.searchParams.get("uploadType") !== "resumable";
    const chunkPut = req.method === "PUT" && u.searchParams.has("upload_id");
    if (raw.length > 0 && !media && !chunkPut && /json/.test(req.headers["content-type"] ?? "")) json = JSON.parse(raw.toString("utf8"));
    const x: GcsExchange = { method: req.method ?? "", path, query: u.searchParams, body: json };
    const auth = req.headers.authorization;
    if (req.method === "POST" && path === "/v1/token") return sts(res, x, raw);
    const m = /^\/(upload\/|download\/)?storage\/v1\/b\/([^/]+)\/o(?:\/([^/]+))?$/.exec(path);
    const bucket = m ? decodeURIComponent(m[2]!) : "";
    const objects = buckets.get(bucket);
    if (!m || !objects) return send(res, x, 404, error(404, "notFound", "The specified bucket does not exist."));
    const name = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    if (m[1] === "upload/" && name === undefined) {
      const uploadId = u.searchParams.get("upload_id");
      if (req.method === "PUT" && uploadId !== null) return chunk(res, x, uploadId, raw, req.headers["content-range"], origin);
      if (req.method !== "POST") return send(res, x, 405, error(405, "methodNotAllowed", "Method not allowed."));
      const target = u.searchParams.get("name") ?? (json as { name?: string } | undefined)?.name;
      if (!target) return send(res, x, 400, error(400, "required", "Required parameter: name"));
      const no = denied(auth, "storage.objects.create", bucket, target) ?? (objects.has(target) ? denied(auth, "storage.objects.delete", bucket, target) : undefined);
      if (no) return send(res, x, no[0], no[1]);
      const type = u.searchParams.get("uploadType");
      if (type === "media") return send(res, x, 200, objectResource(bucket, target, store(bucket, target, raw), origin));
      if (type === "resumable") {
        const id = randomBytes(16).toString("hex");
        const len = req.headers["x-upload-content-length"];
        sessions.set(id, { bucket, name: target, total: len === undefined ? undefined : Number(len), chunks: [], received: 0, openedAtMs: Date.now() });
        return send(res, x, 200, undefined, { location: `${origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(target)}&upload_id=${id}` });
      }
      return send(res, x, 400, error(400, "invalid", `uploadType ${type ?? "(none)"} is not supported here`));
    }
    if (req.method !== "GET") return send(res, x, 405, error(405, "methodNotAllowed", "Method not allowed."));
    if (name === undefined) {
      const no = denied(auth, "storage.objects.list", bucket);
      if (no) return send(res, x, no[0], no[1]);
      const prefix = u.searchParams.get("prefix") ?? "";
      const items = [...objects].filter(([n]) => n.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, ob]) => objectResource(bucket, n, ob, origin));
      return send(res, x, 200, { kind: "storage#objects", items });
    }
    const no = denied(auth, "storage.objects.get", bucket, name);
    if (no) return send(res, x, no[0], no[1]);
    const ob = objects.get(name);
    if (!ob) return send(res, x, 404, error(404, "notFound", `No such object: ${bucket}/${name}`));
    if (u.searchParams.get("alt") === "media") {
      o.onExchange?.(x, { status: 200, body: undefined });
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(ob.data.length), "x-goog-hash": `crc32c=${crc32c(ob.data)},md5=${createHash("md5").update(ob.data).digest("base64")}` });
      return void res.end(ob.data);
    }
    return send(res, x, 200, objectResource(bucket, name, ob, origin));
  }

  function chunk(res: ServerResponse, x: GcsExchange, id: string, raw: Buffer, range: string | undefined, origin: string) {
    const s = sessions.get(id);
    if (!s || Date.now() - s.openedAtMs >= SESSION_LIFETIME_MS) return send(res, x, 404, error(404, "notFound", "No such upload session."));
    const where = (): Record<string, string> => (s.received > 0 ? { range: `bytes=0-${s.received - 1}` } : {});
    // A finished session answers its object, whatever is asked of it.
    if (s.done) return send(res, x, 200, objectResource(s.bucket, s.name, s.done, origin));
    // `bytes */TOTAL` asks where the upload stands (and, with every byte there, ends it); `bytes A-B/TOTAL` (or `/*`) carries bytes A..B.
    const q = /^bytes \*\/(\d+|\*)$/.exec(range ?? "");
    if (q && q[1] !== "*" && Number(q[1]) === s.received) {
      s.done = store(s.bucket, s.name, Buffer.concat(s.chunks));
      return send(res, x, 200, objectResource(s.bucket, s.name, s.done, origin));
    }
    if (q) return send(res, x, 308, undefined, where());
    const r = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range ?? "");
    if (!r || Number(r[2]) - Number(r[1]) + 1 !== raw.length) return send(res, x, 400, error(400, "invalid", "Content-Range does not match the body."));
    if (failChunks > 0) {
      failChunks--;
      return send(res, x, 503, error(503, "backendError", "Backend Error"));
    }
    if (Number(r[1]) !== s.received) return send(res, x, 308, undefined, where());
    if (r[3] !== "*") s.total = Number(r[3]);
    const last = s.total !== undefined && s.received + raw.length === s.total;
    if (!last && raw.length % QUANTUM !== 0) return send(res, x, 400, error(400, "invalid", "Chunks other than the last must be multiples of 256 KiB."));
    s.chunks.push(raw);
    s.received += raw.length;
    if (!last) return send(res, x, 308, undefined, where());
    s.done = store(s.bucket, s.name, Buffer.concat(s.chunks));
    s.chunks = [];
    return send(res, x, 200, objectResource(s.bucket, s.name, s.done, origin));
  }

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    adminToken,
    addToken: (p) => addToken({ expiresAtMs: Date.now() + p.expiresInS * 1000, serviceAccount: p.serviceAccount }),
    addFederatedSubject: (jwt) => void federated.add(jwt),
    expire: (t) => {
      const tok = tokens.get(t);
      if (tok) tok.expiresAtMs = 0;
    },
    object: (b, n) => buckets.get(b)?.get(n)?.data,
    tamper: (b, n, data) => void store(b, n, data),
    names: (b) => [...(buckets.get(b)?.keys() ?? [])].sort(),
    failChunks: (n) => {
      failChunks = n;
    },
    chunkFaultsLeft: () => failChunks,
    ageSessions: (ms, only) => {
      const ids = only?.map((uri) => new URL(uri).searchParams.get("upload_id"));
      for (const [id, x] of sessions) if (!ids || ids.includes(id)) x.openedAtMs -= ms;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/**
 * The bounded reader for SDKs. AWS (v3, smithy): a middleware that limits every raw HTTP response body
 * before the SDK's deserializer reads it, so a huge or endless answer fails the call with
 * {@link ResponseTooLarge} instead of being buffered whole. Placed in the `deserialize` step at low priority,
 * i.e. between the transport and the deserializer. Not for streamed payloads (S3 GetObject): only clients
 * whose answers are small documents (EC2, SSM, STS) get it.
 *
 * Typed structurally (the SDK's MiddlewareStack overloads are not worth importing @smithy/types into base).
 *
 * @example
 *   const ec2 = new EC2Client(config);
 *   boundSdkResponses(ec2.middlewareStack, MAX_API_RESPONSE_BYTES);
 */
import { Readable, Transform } from "node:stream";
import { ResponseTooLarge } from "./bounded-body.js";

type Handler = (args: unknown) => Promise<{ response: unknown }>;
interface StructuralStack {
  add(middleware: (next: Handler) => Handler, options: { step: "deserialize"; priority: "low"; name: string; override: boolean }): void;
}
interface RawResponse {
  statusCode?: number;
  headers?: Record<string, string | undefined>;
  body?: unknown;
}

/** `body` piped through a counter that fails past `limit` bytes and then stops the source (dropping the connection). */
function limitStream(body: Readable, status: number, limit: number): Readable {
  let total = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      if (total <= limit) return done(null, chunk);
      body.destroy();
      done(new ResponseTooLarge(status, total, limit));
    },
  });
  body.on("error", (e) => limiter.destroy(e));
  return body.pipe(limiter);
}

export function boundSdkResponses(stack: unknown, limit: number): void {
  (stack as StructuralStack).add(
    (next) => async (args) => {
      const out = await next(args);
      const res = out.response as RawResponse;
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers?.["content-length"] ?? "");
      if (Number.isFinite(declared) && declared > limit) {
        if (res.body instanceof Readable) res.body.destroy();
        throw new ResponseTooLarge(status, 0, limit);
      }
      if (res.body instanceof Readable) res.body = limitStream(res.body, status, limit);
      return out;
    },
    { step: "deserialize", priority: "low", name: "kilnBoundedResponse", override: true },
  );
}

/**
 * A Node stream's text, refused past `limit` bytes (by `declared`, a Content-Length, before reading; else
 * while reading, destroying the stream): for SDKs that hand bodies over as streams (Azure's HttpClient).
 */
export async function readStreamBounded(body: NodeJS.ReadableStream, status: number, limit: number, declared = Number.NaN): Promise<string> {
  const destroy = () => (body as Partial<Readable>).destroy?.();
  if (Number.isFinite(declared) && declared > limit) {
    destroy();
    throw new ResponseTooLarge(status, 0, limit);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    total += b.length;
    if (total > limit) {
      destroy();
      throw new ResponseTooLarge(status, total, limit);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

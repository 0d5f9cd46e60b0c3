/**
 * Reading an HTTP response body with a ceiling. Every answer Kiln reads from a server it does not run (a
 * provider's REST API, Google's STS, a price API, a store) goes through here, so a huge or endless body —
 * a misbehaving proxy, an outage page streamed forever, a hostile endpoint — costs at most `limit` plus one
 * chunk of memory, and is refused with the endpoint and the limit in the message instead of exhausting the
 * heap. Callers translate {@link ResponseTooLarge} into their own error at the edge (ProviderError,
 * UserError…), keeping it as the cause.
 *
 * @example
 *   const text = await readBounded(res, 8 * MIB);               // throws ResponseTooLarge past 8 MiB
 *   const { json } = await readBoundedJson(res, MIB);           // json undefined when not JSON
 */

export const MIB = 1024 * 1024;

/** The default ceiling for an API's JSON answer: far above any real one, far below what hurts a laptop. */
export const MAX_API_RESPONSE_BYTES = 8 * MIB;

const size = (bytes: number): string => (bytes >= MIB ? `${(bytes / MIB).toFixed(0)} MiB` : `${Math.round(bytes / 1024)} KiB`);

export class ResponseTooLarge extends Error {
  constructor(
    readonly status: number,
    readonly bytesRead: number,
    readonly limit: number,
  ) {
    super(`a body of more than ${size(limit)} (${bytesRead} bytes read, HTTP ${status})`);
    this.name = "ResponseTooLarge";
  }

  /** The message as made, from the fields: an SDK may append to `message` (the AWS SDK's deserializer does). */
  get summary(): string {
    return `a body of more than ${size(this.limit)} (${this.bytesRead} bytes read, HTTP ${this.status})`;
  }
}

/**
 * The body as text, refused once it passes `limit` bytes: by Content-Length before reading, else while
 * streaming (the rest is cancelled, so the connection is dropped rather than drained).
 */
export async function readBounded(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => undefined);
    throw new ResponseTooLarge(res.status, 0, limit);
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLarge(res.status, total, limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** {@link readBounded}, parsed as JSON; undefined for an empty body or one that is not JSON. */
export async function readBoundedJson(res: Response, limit: number): Promise<{ text: string; json: unknown }> {
  const text = await readBounded(res, limit);
  try {
    return { text, json: text.length > 0 ? (JSON.parse(text) as unknown) : undefined };
  } catch {
    return { text, json: undefined };
  }
}

/** The words for a refused body: `${what} answered a body of more than 64 KiB (…); refused without reading the rest`. */
export const refusedBody = (what: string, e: ResponseTooLarge): string => `${what} answered ${e.summary}; refused without reading the rest`;

/** Statuses whose Response must have a null body (the constructor refuses one). */
const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * `res` with its body limited to `limit` bytes, for SDKs that read bodies themselves: an announced
 * Content-Length past the limit throws {@link ResponseTooLarge} at once; otherwise the body stream errors
 * with it once the limit is passed (and the source is cancelled, dropping the connection).
 */
export function limitedResponse(res: Response, limit: number): Response {
  const declared = Number(res.headers.get("content-length") ?? "");
  if (Number.isFinite(declared) && declared > limit) {
    void res.body?.cancel().catch(() => undefined);
    throw new ResponseTooLarge(res.status, 0, limit);
  }
  if (!res.body || NULL_BODY.has(res.status)) return res;
  let total = 0;
  const body = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        total += chunk.byteLength;
        if (total > limit) ctl.error(new ResponseTooLarge(res.status, total, limit));
        else ctl.enqueue(chunk);
      },
    }),
  );
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** A `fetch` whose every response body is {@link limitedResponse limited}: for an SDK's transport option. */
export const boundedFetch =
  (limit: number, base: typeof fetch = fetch): typeof fetch =>
  async (input, init) =>
    limitedResponse(await base(input, init), limit);

/** The ResponseTooLarge an SDK wrapped (its error's `cause` chain, a few levels deep), if any. */
export function responseTooLargeIn(e: unknown): ResponseTooLarge | undefined {
  for (let cur = e, depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof ResponseTooLarge) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A local HTTP server that answers every request with a huge body (200, JSON-looking), streamed in 64 KiB
 * chunks, for the tests of the bounded reader's users (../bounded-body.ts): it counts what it managed to
 * send, so a test can see the client stopped reading early. With `declareLength` the body is announced in
 * Content-Length (the reader then refuses before reading); without it, it is chunked (refused while streaming).
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface HugeBodyServer {
  url: string;
  /** Bytes of body written so far, over all requests. */
  sent(): number;
  requests(): number;
  close(): Promise<void>;
}

export async function startHugeBodyServer(o: { bytes: number; declareLength?: boolean; status?: number }): Promise<HugeBodyServer> {
  let sent = 0;
  let requests = 0;
  const chunk = Buffer.alloc(64 * 1024, " ");
  const server: Server = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(o.status ?? 200, { "content-type": "application/json", ...(o.declareLength && { "content-length": String(o.bytes) }) });
    let left = o.bytes;
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        sent += n;
        if (!res.write(chunk.subarray(0, n))) {
          res.once("drain", pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    res.on("close", () => {
      left = 0;
    });
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => sent,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

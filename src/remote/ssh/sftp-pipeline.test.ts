// The upload pipeline must send writes in file order even when local reads finish out of order, or an
// interrupted upload leaves a partial with holes that cannot be resumed from its size.
import type { FileHandle } from "node:fs/promises";
import type { SFTPWrapper } from "ssh2";
import { describe, expect, it } from "vitest";
import { pipelinedUpload } from "./sftp-pipeline.js";

describe("pipelinedUpload", () => {
  it("issues remote writes in offset order when local reads complete in reverse", async () => {
    const chunk = 4;
    const size = 10 * chunk;
    const source = Buffer.from(Array.from({ length: size }, (_, i) => i));
    // Reads at lower offsets take longer, so without ordering they would finish last.
    const fh = {
      read: (buf: Buffer, off: number, len: number, pos: number) =>
        new Promise((resolve) => {
          setTimeout(() => {
            source.copy(buf, off, pos, pos + len);
            resolve({ bytesRead: len, buffer: buf });
          }, (size - pos) / 4);
        }),
    } as unknown as FileHandle;
    const writes: number[] = [];
    const remote = Buffer.alloc(size);
    const sftp = {
      open: (_p: string, _f: string, cb: (e: Error | undefined, h: Buffer) => void) => cb(undefined, Buffer.from("h")),
      close: (_h: Buffer, cb: () => void) => cb(),
      once: () => undefined,
      removeListener: () => undefined,
      write: (_h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: (e?: Error) => void) => {
        writes.push(pos);
        buf.copy(remote, pos, off, off + len);
        setImmediate(() => cb());
      },
    } as unknown as SFTPWrapper;
    await pipelinedUpload(sftp, fh, "x", 0, size, { chunkBytes: chunk, depth: 8 });
    expect(writes).toEqual(Array.from({ length: 10 }, (_, i) => i * chunk));
    expect(remote.equals(source)).toBe(true);
  });
});

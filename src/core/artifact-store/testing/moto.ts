/**
 * moto's S3 (with IAM and STS) on loopback, for tests: scripts/moto-s3-server.py in the repository's venv,
 * one per test file. It serves until its stdin closes, so it dies with the test process whatever happens.
 * `startMotoStore` answers `{ skip }` with the reason when moto cannot start (no venv, moto not installed):
 * the only case in which the store tests may skip.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { z } from "zod";

const REPO = resolve(import.meta.dirname, "..", "..", "..", "..");
const Key = z.object({ id: z.string(), secret: z.string() });
const Ready = z.object({ url: z.string(), region: z.string(), bucket: z.string(), prefix: z.string(), admin: Key, writer: Key, readonly: Key, role_arn: z.string() });

export type MotoStore = z.infer<typeof Ready> & { close(): Promise<void> };

export async function startMotoStore(o: { startTimeoutMs?: number } = {}): Promise<MotoStore | { skip: string }> {
  const python = join(REPO, ".venv", "bin", "python");
  if (!existsSync(python)) return { skip: `no Python venv at ${python} (run scripts/ensure-python.sh)` };
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(python, [join(REPO, "scripts", "moto-s3-server.py")], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const close = async () => {
    child.stdin.end();
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  };
  const line = await new Promise<string | undefined>((res) => {
    let out = "";
    // moto and boto3 import slowly on a busy machine; the deadline bounds a hang, not a measurement.
    const t = setTimeout(() => res(undefined), o.startTimeoutMs ?? 180_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(t);
        res(out.slice(0, nl));
      }
    });
    void exited.then(() => {
      clearTimeout(t);
      res(undefined);
    });
  });
  let json: unknown;
  try {
    json = line === undefined ? undefined : JSON.parse(line);
  } catch {
    json = undefined;
  }
  const parsed = json === undefined ? undefined : Ready.safeParse(json);
  if (!parsed?.success) {
    await close();
    return { skip: `moto's S3 server did not start: ${stderr.trim().split("\n").slice(-3).join(" | ") || "no output"}` };
  }
  return { ...parsed.data, close };
}

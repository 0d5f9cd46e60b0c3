/**
 * moto's EC2 (with SSM, STS and IAM) in server mode on loopback: ./moto-ec2-server.py in the repository's
 * venv, the same pattern as the artifact store's moto S3 (src/core/artifact-store/testing/moto.ts). It serves
 * until its stdin closes, so it dies with the process that started it whatever happens. `startMotoEc2`
 * answers `{ skip }` with the reason when moto cannot start (no venv, no moto): tests may skip only then,
 * and `kiln run --sim --provider aws` refuses with that reason.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { z } from "zod";

const SERVER_SCRIPT = join("src", "providers", "aws", "testing", "moto-ec2-server.py");

/**
 * The repository: the nearest ancestor of this module holding the server script. Walked up rather than
 * counted, because the bundled driver (`kiln run --sim`) runs this code from node_modules/.cache/….
 */
function findRepo(): string {
  let dir = import.meta.dirname;
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, SERVER_SCRIPT))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return resolve(import.meta.dirname, "..", "..", "..", "..");
}

export const REPO = findRepo();
export const VENV_PYTHON = join(REPO, ".venv", "bin", "python");
const Key = z.object({ id: z.string(), secret: z.string() });
const Ready = z.object({ url: z.string().url(), region: z.string(), admin: Key, readonly: Key, ami_parameter: z.string(), ami_id: z.string() });

export type MotoEc2 = z.infer<typeof Ready> & { close(): Promise<void> };

export async function startMotoEc2(o: { startTimeoutMs?: number; python?: string } = {}): Promise<MotoEc2 | { skip: string }> {
  const python = o.python ?? VENV_PYTHON;
  if (!existsSync(python)) return { skip: `no Python venv at ${python} (run scripts/ensure-python.sh; moto[server] is in its lock)` };
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(python, [join(REPO, SERVER_SCRIPT)], { stdio: ["pipe", "pipe", "pipe"] });
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
    const why = stderr.trim().split("\n").slice(-3).join(" | ") || "no output";
    return { skip: /No module named|ModuleNotFoundError/.test(why) ? `moto[server] is not installed for ${python} (${why.replace(/^.*(ModuleNotFoundError)/, "$1")}; run scripts/ensure-python.sh)` : `moto's EC2 server did not start: ${why}` };
  }
  return { ...parsed.data, close };
}

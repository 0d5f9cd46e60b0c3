/**
 * Host-key pinning: trust on first use, then refuse any other key for the same machine.
 *
 * The file is Kiln's own (`$KILN_HOME/known_hosts`), never the user's ~/.ssh/known_hosts, and it is in
 * OpenSSH's known_hosts format with the pin alias as the host pattern, so the `Host kiln-<job>` block
 * that `kiln ssh` writes (`HostKeyAlias <alias>`, `UserKnownHostsFile <this file>`,
 * `StrictHostKeyChecking yes`) makes plain `ssh` enforce the very same pin.
 *
 * Aliases: the provider's machine id when there is one (a reused IP must not inherit an old pin), else
 * `[host]:port`. Writes are atomic (temp file + rename) so a crash never leaves a half-written file.
 */
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { KilnError } from "../../base/errors.js";

export interface HostKey {
  /** e.g. "ssh-ed25519". */
  type: string;
  /** The SSH wire-format public key blob. */
  blob: Buffer;
}

/** The alias for a machine without a provider id: OpenSSH's own `[host]:port` spelling. */
export const hostPortAlias = (host: string, port = 22): string => (port === 22 ? host : `[${host}]:${port}`);

/** OpenSSH-style fingerprint: "SHA256:" + unpadded base64 of the blob's sha256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named inside a wire-format blob (a uint32 length, then the type string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "unknown";
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString("latin1") : "unknown";
}

const LOCK_WAIT_MS = 5000;
const LOCK_STALE_MS = 30_000;

/**
 * Run a read-modify-write of the file under an exclusive lock file, so two Kiln processes pinning at
 * once (a job and `kiln ssh`) cannot drop each other's pins. A lock older than LOCK_STALE_MS belongs to
 * a crashed process and is broken.
 */
function withFileLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, "wx", 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) rmSync(lock, { force: true });
      } catch {
        // The holder just released it; try again.
      }
      if (Date.now() > deadline) throw new KilnError("known-hosts-locked", `${lock} is held by another Kiln process; retry, or delete the lock file if no Kiln is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

const ALIAS_RE = /^[A-Za-z0-9_.:@[\]-]+$/;

interface Line {
  alias: string;
  key?: HostKey;
  raw: string;
}

function parseLine(raw: string): Line {
  const parts = raw.trim().split(/\s+/);
  const [alias, type, b64] = parts;
  if (!alias || alias.startsWith("#") || !type || !b64) return { alias: "", raw };
  return { alias, key: { type, blob: Buffer.from(b64, "base64") }, raw };
}

export class KnownHosts {
  constructor(readonly file: string) {}

  private lines(): Line[] {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw e;
    }
    return text.split("\n").filter((l) => l.trim() !== "").map(parseLine);
  }

  private write(lines: Line[]): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, lines.map((l) => `${l.raw}\n`).join(""));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  /** Keys pinned for `alias` (usually one). */
  lookup(alias: string): HostKey[] {
    return this.lines().flatMap((l) => (l.alias === alias && l.key ? [l.key] : []));
  }

  /** Pin `key` for `alias` (replacing nothing: use {@link forget} first to re-pin). */
  pin(alias: string, key: HostKey): void {
    if (!ALIAS_RE.test(alias)) throw new TypeError(`known-hosts alias has unsupported characters: ${JSON.stringify(alias)}`);
    withFileLock(this.file, () => {
      const lines = this.lines();
      if (lines.some((l) => l.alias === alias && l.key?.blob.equals(key.blob))) return;
      lines.push({ alias, key, raw: `${alias} ${key.type} ${key.blob.toString("base64")}` });
      this.write(lines);
    });
  }

  /** Remove every pin for `alias`. Returns whether one existed. */
  forget(alias: string): boolean {
    return withFileLock(this.file, () => {
      const lines = this.lines();
      const kept = lines.filter((l) => l.alias !== alias);
      if (kept.length === lines.length) return false;
      this.write(kept);
      return true;
    });
  }

  /**
   * Check a presented host key: pinned → ok; never seen → pin it (trust on first use); different →
   * throw `host-key-changed`. Never silently accepts a changed key.
   */
  verify(alias: string, blob: Buffer): "trusted" | "pinned-now" {
    const check = (pinned: HostKey[]): "trusted" | undefined => {
      if (pinned.some((k) => k.blob.equals(blob))) return "trusted";
      if (pinned.length > 0) throw hostKeyChangedError(alias, this.file, pinned[0]?.blob ?? Buffer.alloc(0), blob);
      return undefined;
    };
    if (check(this.lookup(alias))) return "trusted";
    if (!ALIAS_RE.test(alias)) throw new TypeError(`known-hosts alias has unsupported characters: ${JSON.stringify(alias)}`);
    // Decide "first use" again under the lock: another process may have pinned a key meanwhile.
    return withFileLock(this.file, () => {
      const lines = this.lines();
      if (check(lines.flatMap((l) => (l.alias === alias && l.key ? [l.key] : [])))) return "trusted";
      lines.push({ alias, key: { type: keyTypeOf(blob), blob }, raw: `${alias} ${keyTypeOf(blob)} ${blob.toString("base64")}` });
      this.write(lines);
      return "pinned-now";
    });
  }
}

export function hostKeyChangedError(alias: string, file: string, expected: Buffer, presented: Buffer): KilnError {
  return new KilnError(
    "host-key-changed",
    `SECURITY: the host key of ${alias} changed (pinned ${fingerprint(expected)}, presented ${fingerprint(presented)}). ` +
      "Someone may be intercepting the connection, or the machine was rebuilt. Kiln refused to connect. " +
      `If you know the machine was really rebuilt, forget the old pin with \`kiln ssh --forget-host ${alias}\` and retry.`,
    { details: { alias, knownHostsFile: file, expected: fingerprint(expected), presented: fingerprint(presented) } },
  );
}

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
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
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
    const lines = this.lines();
    if (lines.some((l) => l.alias === alias && l.key?.blob.equals(key.blob))) return;
    lines.push({ alias, key, raw: `${alias} ${key.type} ${key.blob.toString("base64")}` });
    this.write(lines);
  }

  /** Remove every pin for `alias`. Returns whether one existed. */
  forget(alias: string): boolean {
    const lines = this.lines();
    const kept = lines.filter((l) => l.alias !== alias);
    if (kept.length === lines.length) return false;
    this.write(kept);
    return true;
  }

  /**
   * Check a presented host key: pinned → ok; never seen → pin it (trust on first use); different →
   * throw `host-key-changed`. Never silently accepts a changed key.
   */
  verify(alias: string, blob: Buffer): "trusted" | "pinned-now" {
    const pinned = this.lookup(alias);
    if (pinned.some((k) => k.blob.equals(blob))) return "trusted";
    if (pinned.length === 0) {
      this.pin(alias, { type: keyTypeOf(blob), blob });
      return "pinned-now";
    }
    throw hostKeyChangedError(alias, this.file, pinned[0]?.blob ?? Buffer.alloc(0), blob);
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

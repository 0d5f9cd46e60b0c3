/**
 * Kiln's SSH key pair: one ed25519 key in `$KILN_HOME/keys/kiln_ed25519` (private, 0600, directory 0700)
 * with its `.pub` beside it, registered with providers and used for every machine, unless the user
 * points `resources.key` at their own private key.
 *
 * Generated in-process with ssh2's `utils.generateKeyPairSync` (OpenSSH format, readable by `ssh`), so a
 * laptop without `ssh-keygen` works. The private key is written atomically with mode 0600 from the
 * start: it is never readable by others, not even for a moment.
 */
import { createHash } from "node:crypto";
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
// ssh2 is CommonJS: Node's ESM loader sees only its default export, not named ones.
import ssh2 from "ssh2";
import { UserError } from "../../base/errors.js";

const { utils } = ssh2;

export const KEY_NAME = "kiln_ed25519";

export interface KeyPair {
  privateKeyPath: string;
  /** One line, "ssh-ed25519 AAAA… kiln". */
  publicKey: string;
  /** "SHA256:…", as `ssh-keygen -l` prints it. */
  fingerprint: string;
  created: boolean;
}

function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function parse(privateKey: Buffer | string, path: string, passphrase?: string) {
  const parsed = utils.parseKey(privateKey, passphrase);
  if (parsed instanceof Error) {
    throw new UserError(`cannot read the SSH private key ${path}: ${parsed.message}`, {
      cause: parsed,
      hint: "use an unencrypted OpenSSH or PEM private key, or run `kiln keys` to create Kiln's own",
    });
  }
  return parsed;
}

function describe(path: string, privateKey: Buffer, created: boolean): KeyPair {
  const parsed = parse(privateKey, path);
  const blob = parsed.getPublicSSH();
  return {
    privateKeyPath: path,
    publicKey: `${parsed.type} ${blob.toString("base64")}${parsed.comment ? ` ${parsed.comment}` : ""}`,
    fingerprint: `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`,
    created,
  };
}

/**
 * A new ed25519 key pair in OpenSSH format. ssh2's generator drops a leading zero byte of the public key
 * (it is encoded like a bignum), so about 1 key in 256 comes out with a 31-byte key that ssh2 itself, and
 * OpenSSH, reject as malformed ("Malformed OpenSSH private key": a `kiln run` on a fresh KILN_HOME failed
 * this way). Such a pair is thrown away and another made; the check is the parser's own.
 */
export function generateEd25519(): { private: string; public: string } {
  for (let attempt = 0; attempt < 64; attempt++) {
    const pair = utils.generateKeyPairSync("ed25519", { comment: "kiln" });
    const parsed = utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && parsed.getPublicSSH().length === 51) return pair;
  }
  throw new Error("could not generate a well-formed ed25519 key in 64 attempts");
}

/** Kiln's key pair, created on first use. */
export function ensureKeyPair(keysDir: string): KeyPair {
  const path = join(keysDir, KEY_NAME);
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777;
    // ssh refuses group/world-readable keys; repair rather than fail later with a cryptic message.
    if ((mode & 0o077) !== 0) chmodSync(path, 0o600);
    return describe(path, readFileSync(path), false);
  }
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const pair = generateEd25519();
  writeAtomic(path, pair.private, 0o600);
  writeAtomic(`${path}.pub`, `${pair.public}\n`, 0o644);
  return describe(path, Buffer.from(pair.private), true);
}

/** A user-supplied private key (`resources.key`, `~` expanded), validated. */
export function loadUserKey(pathSpec: string, cwd: string, label = "resources.key"): { path: string; privateKey: Buffer; publicKey: string } {
  const path = pathSpec.startsWith("~/") ? join(homedir(), pathSpec.slice(2)) : resolve(cwd, pathSpec);
  let privateKey: Buffer;
  try {
    privateKey = readFileSync(path);
  } catch (e) {
    throw new UserError(`${label}: cannot read ${path}: ${(e as Error).message}`, { cause: e, exitCode: 2, hint: `point ${label} at an existing private key file` });
  }
  return { path, privateKey, publicKey: describe(path, privateKey, false).publicKey };
}

/** The private key Kiln uses: the user's (`resources.key`) when given, else Kiln's own. */
export function privateKeyFor(keysDir: string, userKey: string | undefined, cwd: string): { path: string; privateKey: Buffer; publicKey: string } {
  if (userKey !== undefined) return loadUserKey(userKey, cwd);
  const pair = ensureKeyPair(keysDir);
  return { path: pair.privateKeyPath, privateKey: readFileSync(pair.privateKeyPath), publicKey: pair.publicKey };
}

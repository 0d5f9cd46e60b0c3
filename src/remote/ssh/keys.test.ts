// Kiln's key pair on disk: created once with 0600/0700, reused, readable by OpenSSH; user keys load.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import ssh2 from "ssh2";
import { ensureKeyPair, generateEd25519, loadUserKey, privateKeyFor } from "./keys.js";

describe("keys", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "kiln-keys-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("creates an ed25519 pair once, private 0600 in a 0700 directory, and reuses it", () => {
    const keys = join(dir, "keys");
    const first = ensureKeyPair(keys);
    expect(first.created).toBe(true);
    expect(first.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ kiln$/);
    expect(statSync(first.privateKeyPath).mode & 0o777).toBe(0o600);
    expect(statSync(keys).mode & 0o777).toBe(0o700);
    // OpenSSH agrees on the public key and the fingerprint.
    expect(execFileSync("ssh-keygen", ["-y", "-f", first.privateKeyPath], { encoding: "utf8" }).trim()).toBe(first.publicKey);
    expect(execFileSync("ssh-keygen", ["-l", "-f", `${first.privateKeyPath}.pub`], { encoding: "utf8" })).toContain(first.fingerprint);
    chmodSync(first.privateKeyPath, 0o644);
    const again = ensureKeyPair(keys);
    expect(again).toEqual({ ...first, created: false });
    expect(statSync(first.privateKeyPath).mode & 0o777).toBe(0o600);
  });

  it("never hands out a malformed key (ssh2 drops a leading zero byte of about 1 public key in 256)", () => {
    // 1,500 pairs: the chance that none would have hit the bad case is about 0.2%.
    for (let i = 0; i < 1500; i++) {
      const parsed = ssh2.utils.parseKey(generateEd25519().private);
      expect(parsed).not.toBeInstanceOf(Error);
      expect((parsed as ssh2.ParsedKey).getPublicSSH()).toHaveLength(51);
    }
  });

  it("loads the user's own key and rejects a file that is not a key", () => {
    const own = join(dir, "id_test");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "me", "-f", own]);
    const k = privateKeyFor(join(dir, "keys"), "id_test", dir);
    expect(k.path).toBe(own);
    expect(k.publicKey).toBe(readFileSync(`${own}.pub`, "utf8").trim());
    writeFileSync(join(dir, "junk"), "not a key");
    expect(() => loadUserKey("junk", dir)).toThrow(UserError);
    expect(() => loadUserKey("missing", dir)).toThrow(/resources.key: cannot read/);
  });
});

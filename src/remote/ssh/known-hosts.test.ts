// Pinning on a real file: first use pins, the same key is trusted, another key is refused with a
// message naming the way out, forget removes only that alias, and the file is OpenSSH-compatible.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// ssh2 is CommonJS: Node's ESM loader sees only its default export, not named ones.
import ssh2 from "ssh2";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KilnError } from "../../base/errors.js";
import { fingerprint, hostPortAlias, KnownHosts, keyTypeOf } from "./known-hosts.js";
import { generateEd25519 } from "./keys.js";

const { utils } = ssh2;

const blobOf = () => {
  // Kiln's own generator: ssh2's drops a leading zero byte of about 1 public key in 256 (see keys.ts).
  const parsed = utils.parseKey(generateEd25519().public);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
};

describe("KnownHosts", () => {
  let dir: string;
  let kh: KnownHosts;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "kiln-kh-"));
    kh = new KnownHosts(join(dir, "sub", "known_hosts"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("pins on first use, trusts the same key, refuses another with host-key-changed", () => {
    const a = blobOf();
    const b = blobOf();
    expect(kh.verify("lambda-0b1c", a)).toBe("pinned-now");
    expect(kh.verify("lambda-0b1c", a)).toBe("trusted");
    expect(statSync(kh.file).mode & 0o777).toBe(0o600);
    let err: unknown;
    try {
      kh.verify("lambda-0b1c", b);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).code).toBe("host-key-changed");
    expect((err as KilnError).message).toContain(fingerprint(a));
    expect((err as KilnError).message).toContain(fingerprint(b));
    expect((err as KilnError).message).toContain("kiln ssh --forget-host lambda-0b1c");
    // The refused key was not written anywhere.
    expect(kh.lookup("lambda-0b1c").map((k) => k.blob.toString("hex"))).toEqual([a.toString("hex")]);
  });

  it("forgets one alias and keeps the others", () => {
    kh.pin("m1", { type: "ssh-ed25519", blob: blobOf() });
    kh.pin("[10.0.0.2]:2222", { type: "ssh-ed25519", blob: blobOf() });
    expect(kh.forget("m1")).toBe(true);
    expect(kh.forget("m1")).toBe(false);
    expect(kh.lookup("[10.0.0.2]:2222")).toHaveLength(1);
    expect(hostPortAlias("10.0.0.2", 2222)).toBe("[10.0.0.2]:2222");
    expect(hostPortAlias("10.0.0.2")).toBe("10.0.0.2");
  });

  it("breaks a stale lock left by a crashed process and never leaves its own behind", () => {
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(`${kh.file}.lock`, "");
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${kh.file}.lock`, old, old);
    expect(kh.verify("m1", blobOf())).toBe("pinned-now");
    expect(existsSync(`${kh.file}.lock`)).toBe(false);
  });

  it("writes lines that ssh-keygen reads as known_hosts entries", () => {
    const a = blobOf();
    expect(keyTypeOf(a)).toBe("ssh-ed25519");
    kh.pin("kiln-job-1", { type: keyTypeOf(a), blob: a });
    const out = execFileSync("ssh-keygen", ["-F", "kiln-job-1", "-f", kh.file], { encoding: "utf8" });
    expect(out).toContain(`kiln-job-1 ssh-ed25519 ${a.toString("base64")}`);
    expect(readFileSync(kh.file, "utf8").trim().split("\n")).toHaveLength(1);
  });
});

// `kiln keys` in-process: creates the key on first use, then shows the same one; --public for piping.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureIo } from "../io.js";
import { main } from "../main.js";

describe("kiln keys", () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), "kiln-keys-cli-"));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));
  const kiln = async (...argv: string[]) => {
    const io = captureIo();
    const code = await main(argv, io, { env: { ...process.env, KILN_HOME: home } });
    const scrub = (s: string) => s.split(home).join("<KILN_HOME>").replace(/AAAA[A-Za-z0-9+/=]+/g, "AAAA…").replace(/SHA256:[A-Za-z0-9+/]+/g, "SHA256:…");
    return { code, stdout: scrub(io.stdout), stderr: io.stderr, raw: io.stdout };
  };

  it("creates Kiln's key once and shows it", async () => {
    const first = await kiln("keys");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatchInlineSnapshot(`
      "Created Kiln's SSH key: <KILN_HOME>/keys/kiln_ed25519
      Fingerprint: SHA256:…

      Public key (add it to the provider's SSH keys, or to ~/.ssh/authorized_keys on your own host):
      ssh-ed25519 AAAA… kiln
      "
    `);
    expect(statSync(join(home, "keys", "kiln_ed25519")).mode & 0o777).toBe(0o600);
    const second = await kiln("keys");
    expect(second.stdout.startsWith("Using Kiln's SSH key: <KILN_HOME>/keys/kiln_ed25519\n")).toBe(true);
    const pub = await kiln("keys", "--public");
    expect(pub.raw).toBe(readFileSync(join(home, "keys", "kiln_ed25519.pub"), "utf8"));
  });
});

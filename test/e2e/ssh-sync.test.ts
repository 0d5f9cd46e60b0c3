// Artifact sync against a real sshd: the machine's manifest (odd file names included), pulling only
// what changed, a corrupted transfer caught by the manifest, and teardown refused until verified.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KilnError } from "../../src/base/errors.js";
import { SshConnection } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { localManifest, remoteManifest } from "../../src/remote/sync/manifest.js";
import { pullArtifacts } from "../../src/remote/sync/pull.js";
import { assertSafeToTearDown, verifyLocal } from "../../src/remote/sync/verify.js";
import { startSshd, sshdAvailable, type TestSshd } from "../helpers/sshd.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("artifact sync", () => {
  let sshd: TestSshd;
  let dir: string;
  let conn: SshConnection;
  const files: Record<string, Buffer> = {
    "sae/sae.safetensors": randomBytes(300_000),
    "sae/cfg.json": Buffer.from('{"d_sae": 1536}\n'),
    "probe/probe.json": Buffer.from("{}\n"),
    "checkpoints/step 100/state.pt": randomBytes(50_000),
    "notes/ünïcode\tname.txt": Buffer.from("odd\n"),
    "empty.txt": Buffer.alloc(0),
  };
  const remote = (p: string) => join(sshd.home, "job", "out", p);
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), "kiln-sync-"));
    for (const [p, b] of Object.entries(files)) {
      mkdirSync(join(remote(p), ".."), { recursive: true });
      writeFileSync(remote(p), b);
    }
    writeFileSync(remote("sae/half.bin.kiln-part"), "in flight");
    conn = await SshConnection.open(
      { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey },
      { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 10_000 },
    );
  });
  afterAll(async () => {
    conn?.close();
    await sshd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("computes the machine's manifest in one pass, skipping partial transfers", async () => {
    const m = await remoteManifest(conn, "job/out");
    const expected = Object.entries(files)
      .map(([path, b]) => ({ path, size: b.length, sha256: sha(b) }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    expect(m).toEqual(expected);
    expect(await localManifest(join(sshd.home, "job", "out"))).toEqual(expected);
    await expect(remoteManifest(conn, "job/nope")).rejects.toMatchObject({ code: "artifacts-missing" });
  });

  it("pulls everything once, then only what changed", async () => {
    const local = join(dir, "pull1");
    const first = await pullArtifacts(conn, "job/out", local);
    expect(first.pulled).toHaveLength(6);
    for (const [p, b] of Object.entries(files)) expect(readFileSync(join(local, p)).equals(b)).toBe(true);
    const again = await pullArtifacts(conn, "job/out", local);
    expect(again).toMatchObject({ pulled: [], bytes: 0 });
    writeFileSync(remote("probe/probe.json"), '{"auroc": 0.97}\n');
    const third = await pullArtifacts(conn, "job/out", local);
    expect(third.pulled).toEqual(["probe/probe.json"]);
    expect(readFileSync(join(local, "probe/probe.json"), "utf8")).toBe('{"auroc": 0.97}\n');
    expect((await verifyLocal(third.manifest, local)).ok).toBe(true);
    writeFileSync(remote("probe/probe.json"), files["probe/probe.json"]!);
  });

  it("detects a file that changed in transit and a local file corrupted afterwards", async () => {
    const local = join(dir, "pull2");
    const manifest = await remoteManifest(conn, "job/out");
    // The bytes on the wire no longer match the manifest (same size, different content).
    const original = files["sae/sae.safetensors"]!;
    writeFileSync(remote("sae/sae.safetensors"), randomBytes(original.length));
    const err = await pullArtifacts(conn, "job/out", local, { manifest }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "download-corrupt" });
    expect(existsSync(join(local, "sae/sae.safetensors"))).toBe(false);
    writeFileSync(remote("sae/sae.safetensors"), original);
    await pullArtifacts(conn, "job/out", local, { manifest });
    const buf = readFileSync(join(local, "sae/sae.safetensors"));
    buf[1000] = (buf[1000] ?? 0) ^ 0xff;
    writeFileSync(join(local, "sae/sae.safetensors"), buf);
    rmSync(join(local, "probe/probe.json"));
    const v = await verifyLocal(manifest, local);
    expect(v).toMatchObject({ ok: false, missing: ["probe/probe.json"], mismatched: [{ path: "sae/sae.safetensors", gotSize: original.length }] });
  });

  it("allows teardown only when the final manifest is verified locally", async () => {
    const local = join(dir, "pull3");
    const ok = await assertSafeToTearDown({ conn, remoteDir: "job/out", localDir: local, required: ["sae/sae.safetensors", "probe/probe.json"] });
    expect(ok.verified).toBe(6);
    const missing = await assertSafeToTearDown({ conn, remoteDir: "job/out", localDir: local, required: ["sae/final.safetensors"], pullCommand: "kiln pull j42" }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(KilnError);
    expect(missing).toMatchObject({ code: "artifacts-unverified", details: { missingRequired: ["sae/final.safetensors"] } });
    expect((missing as KilnError).message).toContain("kiln pull j42");
    await expect(assertSafeToTearDown({ conn, remoteDir: "job/none", localDir: local })).rejects.toMatchObject({ code: "artifacts-unverified" });
    mkdirSync(join(sshd.home, "job", "empty"), { recursive: true });
    await expect(assertSafeToTearDown({ conn, remoteDir: "job/empty", localDir: local })).rejects.toMatchObject({ code: "artifacts-unverified" });
  });

  it("refuses teardown when the machine cannot be reached", async () => {
    const s = await startSshd();
    const c = await SshConnection.open(
      { host: s.host, port: s.port, user: s.user, privateKey: s.clientKey },
      { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 10_000, reconnectTimeoutMs: 800 },
    );
    await s.cleanup();
    const err = await assertSafeToTearDown({ conn: c, remoteDir: "job/out", localDir: join(dir, "pull4") }).catch((e: unknown) => e);
    c.close();
    expect(err).toMatchObject({ code: "artifacts-unverified" });
    expect((err as KilnError).message).toMatch(/pulling failed/);
  });
});

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("periodic artifact sync", () => {
  it("pulls each interval, survives a failed round, and stops on abort", async () => {
    const { ArtifactSync } = await import("../../src/remote/sync/periodic.js");
    const sshd = await startSshd();
    const dir = mkdtempSync(join(tmpdir(), "kiln-periodic-"));
    const ac = new AbortController();
    try {
      mkdirSync(join(sshd.home, "out"), { recursive: true });
      writeFileSync(join(sshd.home, "out", "step-1.pt"), "one");
      const conn = await SshConnection.open(
        { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey },
        { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 10_000, reconnectTimeoutMs: 5_000 },
      );
      const rounds: boolean[] = [];
      const sync = new ArtifactSync(conn, "out", join(dir, "local"), { intervalMs: 150, signal: ac.signal, onRound: (r) => rounds.push(r.ok) });
      const waitFor = async (cond: () => boolean) => {
        for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
        expect(cond()).toBe(true);
      };
      await waitFor(() => existsSync(join(dir, "local", "step-1.pt")));
      rmSync(join(sshd.home, "out"), { recursive: true });
      await waitFor(() => rounds.includes(false));
      expect(sync.lastError).toMatchObject({ code: "artifacts-missing" });
      mkdirSync(join(sshd.home, "out"), { recursive: true });
      writeFileSync(join(sshd.home, "out", "step-2.pt"), "two");
      await waitFor(() => existsSync(join(dir, "local", "step-2.pt")));
      ac.abort();
      await sync.stopped();
      conn.close();
    } finally {
      ac.abort();
      await sshd.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

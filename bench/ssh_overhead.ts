/**
 * What the SSH transport costs, on loopback against the real-sshd harness: connect (handshake + auth +
 * pin check), a no-op exec round trip on a reused connection, starting a persistent run, reconnecting
 * after every connection was killed, a 50 MB verified upload, and a verified pull of a checkpoint
 * directory. Loopback removes the network, so these numbers are Kiln's and
 * OpenSSH's own overhead (crypto, SFTP framing, sha256 on both ends), an upper bound on speed.
 *
 *   npx vite-node bench/ssh_overhead.ts            # default sizes (< 60 s on a 2-core machine)
 *   npx vite-node bench/ssh_overhead.ts -- --big   # 1 GB checkpoint directory
 *
 * Writes bench/results/ssh_overhead[-big].json with the machine's description.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { SshConnection } from "../src/remote/ssh/connection.js";
import { KnownHosts } from "../src/remote/ssh/known-hosts.js";
import { uploadFile } from "../src/remote/ssh/sftp.js";
import { startSshd } from "../src/remote/ssh/loopback-sshd.js";
import { startRun, stopRun } from "../src/remote/session/run.js";
import { pullArtifacts } from "../src/remote/sync/pull.js";

const big = process.argv.includes("--big");
const MB = 1 << 20;
const UPLOAD_MB = 50;
const CKPT_FILES = big ? 8 : 4;
const CKPT_FILE_MB = big ? 128 : 16;

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  return { n: s.length, median_ms: +q(0.5).toFixed(2), p95_ms: +q(0.95).toFixed(2), min_ms: +(s[0] ?? Number.NaN).toFixed(2) };
};

function writeRandom(path: string, mb: number): void {
  // Random bytes so nothing along the way can compress them away.
  const chunk = randomBytes(MB);
  const buf = Buffer.alloc(mb * MB);
  for (let i = 0; i < mb; i++) chunk.copy(buf, i * MB);
  writeFileSync(path, buf);
}

async function main(): Promise<void> {
  const sshd = await startSshd();
  const work = mkdtempSync(join(tmpdir(), "kiln-bench-ssh-"));
  const knownHosts = new KnownHosts(join(work, "known_hosts"));
  const target = { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey };
  try {
    const connects: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      const c = await SshConnection.open(target, { knownHosts, timeoutMs: 10_000 });
      connects.push(ms(t0));
      c.close();
    }
    const conn = await SshConnection.open(target, { knownHosts, timeoutMs: 10_000 });
    const execs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = process.hrtime.bigint();
      await conn.run(["true"]);
      execs.push(ms(t0));
    }

    // Persistent run: from "start" to the wrapper's pid file existing (what "training started" waits on).
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = process.hrtime.bigint();
      await startRun(conn, { name: `bench-${i}`, dir: `bench/run-${i}`, argv: ["sleep", "30"], method: "setsid" });
      starts.push(ms(t));
      await stopRun(conn, `bench/run-${i}`, { graceMs: 2000 });
    }
    // Reconnect: every connection killed, then the next command (which reconnects first).
    const reconnects: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sshd.dropConnections();
      const t = process.hrtime.bigint();
      await conn.run(["true"]);
      reconnects.push(ms(t));
    }

    const up = join(work, "upload.bin");
    writeRandom(up, UPLOAD_MB);
    let t0 = process.hrtime.bigint();
    await uploadFile(conn, up, "bench/upload.bin");
    const uploadMs = ms(t0);

    const ckpt = join(sshd.home, "bench", "ckpt");
    mkdirSync(ckpt, { recursive: true });
    for (let i = 0; i < CKPT_FILES; i++) writeRandom(join(ckpt, `shard-${i}.safetensors`), CKPT_FILE_MB);
    writeFileSync(join(ckpt, "cfg.json"), "{}\n");
    t0 = process.hrtime.bigint();
    const pulled = await pullArtifacts(conn, "bench/ckpt", join(work, "pulled"));
    const pullMs = ms(t0);
    t0 = process.hrtime.bigint();
    const again = await pullArtifacts(conn, "bench/ckpt", join(work, "pulled"));
    const noopPullMs = ms(t0);
    conn.close();

    const pullMb = pulled.bytes / MB;
    const result = {
      bench: "ssh_overhead",
      variant: big ? "big" : "default",
      at: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        cpu_model: cpus()[0]?.model ?? "unknown",
        mem_gb: +(totalmem() / 1e9).toFixed(1),
        node: process.version,
        // `ssh -V` prints to stderr.
        openssh: spawnSync("ssh", ["-V"], { encoding: "utf8" }).stderr.trim() || "unknown",
        load_avg_1m_at_end: +(loadavg()[0] ?? 0).toFixed(1),
        note: "loopback; on a shared, loaded 2-core machine every step is CPU-bound (sha256 on both ends, SSH crypto, sshd forks)",
      },
      connect: stats(connects),
      noop_exec_round_trip: stats(execs),
      persistent_run_start: stats(starts),
      reconnect_then_exec: stats(reconnects),
      upload: { mb: UPLOAD_MB, seconds: +(uploadMs / 1000).toFixed(2), mb_per_s: +(UPLOAD_MB / (uploadMs / 1000)).toFixed(1), includes: "local sha256 + SFTP + remote sha256sum + mv" },
      pull: {
        files: pulled.pulled.length,
        mb: +pullMb.toFixed(1),
        seconds: +(pullMs / 1000).toFixed(2),
        mb_per_s: +(pullMb / (pullMs / 1000)).toFixed(1),
        includes: "remote manifest (sha256sum) + SFTP + local sha256",
        unchanged_repull_seconds: +(noopPullMs / 1000).toFixed(2),
        unchanged_repull_skipped: again.skipped.length,
      },
    };
    mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
    const out = join(import.meta.dirname, "results", `ssh_overhead${big ? "-big" : ""}.json`);
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
    console.log(`wrote ${out}`);
  } finally {
    await sshd.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

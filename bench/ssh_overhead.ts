/**
 * What the SSH transport costs, on loopback against the real-sshd harness: connect (handshake + auth +
 * pin check), a no-op exec round trip on a reused connection, starting a persistent run, reconnecting
 * after every connection was killed, a 50 MB verified upload, and a verified pull of a checkpoint
 * directory. Loopback removes the network, so these numbers are Kiln's and
 * OpenSSH's own overhead (crypto, SFTP framing, sha256 on both ends), an upper bound on speed.
 *
 *   npx vite-node bench/ssh_overhead.ts            # default sizes (< 60 s on a 2-core machine)
 *   npx vite-node bench/ssh_overhead.ts -- --big   # 1 GB checkpoint directory
 *   npx vite-node bench/ssh_overhead.ts -- --driver  # `kiln run` on provider ssh, SSH reachable → started
 *
 * Writes bench/results/ssh_overhead[-big|-driver].json with the machine's description.
 *
 * --driver: the whole path of `kiln run JOB.yaml` on provider ssh without resources.ssh.python, split by
 * the driver's milestones: connect (ssh), verify (the checklist), upload (stage, bundle, secret scan,
 * SFTP, unpack + verify), setup (the keyed venv: cold the first time, warm after) and start (the
 * persistent run). The host: python3 is this repo's .venv base interpreter with the .venv's packages on
 * PYTHONPATH (a host with torch installed system-wide), pip offline. Each job is stopped once started.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { pollUntil } from "../src/base/deadline.js";
import { captureIo } from "../src/cli/io.js";
import { main as kilnMain } from "../src/cli/main.js";
import { bundleDriver } from "../src/core/lifecycle/testing/driver-bundle.js";
import { SshConnection } from "../src/remote/ssh/connection.js";
import { KnownHosts } from "../src/remote/ssh/known-hosts.js";
import { uploadFile } from "../src/remote/ssh/sftp.js";
import { startSshd } from "../src/remote/ssh/loopback-sshd.js";
import { startRun, stopRun } from "../src/remote/session/run.js";
import { pullArtifacts } from "../src/remote/sync/pull.js";

const big = process.argv.includes("--big");
const driver = process.argv.includes("--driver");
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

const machine = () => ({
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model ?? "unknown",
  mem_gb: +(totalmem() / 1e9).toFixed(1),
  node: process.version,
  load_avg_1m_at_end: +(loadavg()[0] ?? 0).toFixed(1),
});

async function driverPath(): Promise<void> {
  const ROOT = join(import.meta.dirname, "..");
  const VENV_PYTHON = join(ROOT, ".venv", "bin", "python");
  const RUNS = Number(process.env["RUNS"] ?? "") || 3;
  const sshd = await startSshd();
  const work = mkdtempSync(join(tmpdir(), "kiln-bench-sshdrv-"));
  try {
    // The host (see the header): no kiln-sae of its own, torch and friends system-wide, pip offline.
    const py = (code: string) => execFileSync(VENV_PYTHON, ["-c", code], { encoding: "utf8" }).trim();
    const site = py("import sysconfig; print(sysconfig.get_paths()['purelib'])");
    const system = join(work, "system-site-packages");
    mkdirSync(system);
    for (const f of readdirSync(site)) if (!/kiln|^__editable__/i.test(f)) symlinkSync(join(site, f), join(system, f));
    sshd.installCommand("python3", `#!/bin/sh\nexec ${py("import sys; print(sys._base_executable)")} "$@"\n`);
    sshd.setEnv({ PYTHONPATH: system, PIP_NO_INDEX: "1", PIP_NO_BUILD_ISOLATION: "0" });
    const spec = parse(readFileSync(join(ROOT, "examples", "sae-pii-local.yaml"), "utf8"));
    const t = sshd.target();
    spec.name = "bench-ssh";
    spec.resources = { providers: ["ssh"], ssh: { host: t.host, port: t.port, user: t.user, key: t.privateKeyPath } };
    spec.budget.max_hours = 1;
    spec.workload.sae.dataset.path = join(ROOT, "examples", spec.workload.sae.dataset.path);
    Object.assign(spec.workload.sae, { tokens: 4096, device: "cpu" });
    const specPath = join(work, "bench.yaml");
    writeFileSync(specPath, stringify(spec));
    const env = { ...process.env, KILN_HOME: join(work, "kiln"), KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(), KILN_CLOUD_POLL_MS: "1000", KILN_STOP_GRACE_MS: "5000", HF_HUB_OFFLINE: "1" };
    const kiln = async (argv: string[]) => {
      const io = captureIo();
      const code = await kilnMain(argv, io, { env, cwd: work });
      if (code !== 0) throw new Error(`kiln ${argv.join(" ")} failed: ${io.stderr}`);
      return io.stdout;
    };
    const runs: Record<string, number>[] = [];
    for (let i = 0; i < RUNS; i++) {
      const id = /\((\d{8}-\d{6}-[0-9a-f]{4})\)/.exec(await kiln(["run", specPath, "--detach"]))![1]!;
      const log = join(env.KILN_HOME, "jobs", id, "logs", "driver.log");
      const m = await pollUntil(
        async () => {
          let text = "";
          try {
            text = readFileSync(log, "utf8");
          } catch {
            // Not written yet.
          }
          const marks = Object.fromEntries([...text.matchAll(/milestone (\w+) at (\d+) ms/g)].map((x) => [x[1]!, Number(x[2])]));
          return marks["started"] !== undefined ? marks : undefined;
        },
        { what: "the job to start", timeoutMs: 600_000, intervalMs: 100 },
      );
      await kiln(["down", id]);
      const at = (k: string) => m[k] ?? Number.NaN;
      runs.push({
        connect_ms: at("ssh") - at("running"),
        verify_ms: at("verified") - at("ssh"),
        upload_ms: at("shipped") - at("verified"),
        setup_ms: at("setup") - at("shipped"),
        start_ms: at("started") - at("setup"),
        ssh_reachable_to_started_ms: at("started") - at("running"),
      });
    }
    const warm = runs.slice(1);
    const median = (k: string) => {
      const v = warm.map((r) => r[k]!).sort((a, b) => a - b);
      return v.length === 0 ? Number.NaN : v[Math.floor((v.length - 1) / 2)]!;
    };
    const result = {
      bench: "ssh_overhead",
      variant: "driver",
      at: new Date().toISOString(),
      machine: { ...machine(), note: "loopback sshd on the same shared 2-core machine: the host's work (torch imports for the checklist and setup probes) competes with Kiln's" },
      cold: runs[0],
      warm_median: Object.fromEntries(Object.keys(runs[0]!).map((k) => [k, median(k)])),
      runs,
      target_warm_ms: 10_000,
    };
    const out = join(import.meta.dirname, "results", "ssh_overhead-driver.json");
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify({ cold: result.cold, warm_median: result.warm_median, load: result.machine.load_avg_1m_at_end }, null, 2));
    console.log(`wrote ${out}`);
  } finally {
    await sshd.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await (driver ? driverPath() : main());

/**
 * `kiln logs JOB [-f]` for a job on a remote machine (provider ssh or a cloud): the step logs (or,
 * with --metrics, the metrics files) are read on the machine over SSH by byte offset, so following
 * survives dropped connections without gaps or duplicates, and works whether or not the job's driver
 * is still alive (the run on the machine is persistent). Following ends when the job reaches a final
 * state or the run on the machine has exited; Ctrl-C detaches.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../../base/deadline.js";
import { UserError } from "../../base/errors.js";
import type { CloudFile } from "../../core/lifecycle/cloud-file.js";
import type { JobRecord, Ledger } from "../../store/index.js";
import type { CommandContext } from "../command.js";

export interface RemoteLogsOptions {
  follow: boolean;
  step: string | undefined;
  metrics: boolean;
  intervalMs: number;
}

/** The job's step names, in order, from the step script Kiln staged for the machine. */
export function stagedStepNames(jobDir: string): string[] {
  const script = join(jobDir, "stage", "kiln-job.sh");
  if (!existsSync(script)) return [];
  return [...readFileSync(script, "utf8").matchAll(/^echo "kiln: step ([a-z0-9-]+)"$/gm)].map((m) => m[1]!);
}

/** The step logs (or metrics files) copied from the machine, as `kiln logs` prints them; undefined when none were. */
function pulledLogs(jobDir: string, o: RemoteLogsOptions): string | undefined {
  const outputs = join(jobDir, "outputs");
  const metricsFiles = () => ["metrics.jsonl", ...(existsSync(outputs) ? readdirSync(outputs).sort().map((d) => join(d, "metrics.jsonl")) : [])];
  const files = o.metrics
    ? metricsFiles().map((f) => ({ label: f, path: join(outputs, f) }))
    : (o.step !== undefined ? [o.step] : stagedStepNames(jobDir)).map((n) => ({ label: `${n}.log`, path: join(jobDir, "logs", `${n}.log`) }));
  const found = files.filter((f) => existsSync(f.path));
  if (found.length === 0) return undefined;
  return found.map((f) => `==> ${f.label} <==\n${readFileSync(f.path, "utf8")}`).join("");
}

export async function remoteLogs(ctx: CommandContext, ledger: Ledger, job: JobRecord, c: CloudFile, o: RemoteLogsOptions): Promise<number> {
  if (o.step !== undefined && !/^[a-z0-9-]+$/.test(o.step)) throw new UserError(`--step ${o.step}: step names are lowercase letters, digits and -`, { exitCode: 2 });
  const { SshConnection } = await import("../../remote/ssh/connection.js");
  const { KnownHosts, hostPortAlias } = await import("../../remote/ssh/known-hosts.js");
  const { MACHINE_ACCESS_FILE, loadMachineAccess } = await import("../../remote/ssh/access.js");
  const { loadUserKey, privateKeyFor } = await import("../../remote/ssh/keys.js");
  const { RemoteFilesTail } = await import("../../remote/session/files-tail.js");
  const { runStatus } = await import("../../remote/session/run.js");
  const { isTerminal } = await import("../../store/index.js");
  const { remoteHome, remotePaths } = await import("../../core/lifecycle/remote-job.js");
  // A finished job's step logs were pulled at its end: read them here, the machine may be gone.
  if (isTerminal(job.state)) {
    const local = pulledLogs(job.job_dir, o);
    if (local !== undefined) {
      ctx.io.out(local);
      if (o.follow) ctx.io.err(`job ${job.state}\n`);
      return 0;
    }
  }
  // A rented machine is terminated with the job, and its logs with it.
  if (isTerminal(job.state) && !c.ssh) throw new UserError(`${job.name} (${job.id}) is ${job.state}: its ${c.provider} machine is gone, and its logs with it`, { hint: `the pulled outputs are in ${join(job.job_dir, "outputs")}` });
  // Where the machine is: what the driver saved once it got in; a user's host is also in cloud.json.
  const target = existsSync(join(job.job_dir, MACHINE_ACCESS_FILE))
    ? (() => {
        const a = loadMachineAccess(job.job_dir, job.name);
        return { host: a.host, port: a.port, user: a.user, privateKey: loadUserKey(a.keyPath, c.specDir, "the job machine's SSH key").privateKey, hostKeyAlias: a.hostKeyAlias };
      })()
    : c.ssh
      ? { host: c.ssh.host, port: c.ssh.port, user: c.ssh.user, privateKey: privateKeyFor(ctx.paths.keys, c.keyPath, c.specDir).privateKey, hostKeyAlias: hostPortAlias(c.ssh.host, c.ssh.port) }
      : undefined;
  if (!target) {
    if (isTerminal(job.state)) throw new UserError(`${job.name} (${job.id}) ended before its machine was reachable, or its machine is gone with its logs`, { hint: `the pulled outputs are in ${join(job.job_dir, "outputs")}` });
    ctx.io.out(`(${job.name} has no machine to read logs from yet; it is ${job.state})\n`);
    return 0;
  }
  const conn = await SshConnection.open(target, { knownHosts: new KnownHosts(ctx.paths.knownHosts), timeoutMs: 60_000, logger: ctx.logger, signal: ctx.signal });
  try {
    const rp = remotePaths(await remoteHome(conn), job.id);
    const names = o.step !== undefined ? [o.step] : stagedStepNames(job.job_dir);
    const tail = new RemoteFilesTail(
      conn,
      o.metrics
        ? { dir: rp.job, patterns: ["outputs/metrics.jsonl", "outputs/*/metrics.jsonl"], logger: ctx.logger }
        : { dir: rp.job, patterns: o.step !== undefined ? [`logs/${o.step}.log`] : ["logs/*.log"], order: names.map((n) => `${n}.log`), logger: ctx.logger },
    );
    if (!o.follow) {
      const text = await tail.read(ctx.signal);
      ctx.io.out(text || `(no output yet from ${job.name} on ${conn.where})\n`);
      return 0;
    }
    for (;;) {
      if (ctx.signal.aborted) break;
      const text = await tail.read(ctx.signal).catch((e: unknown) => {
        if (ctx.signal.aborted) return "";
        throw e;
      });
      if (text) ctx.io.out(text);
      // The run's own record on the machine ends following even when nobody drives the job any more.
      const state = ledger.getJob(job.id)?.state;
      const run = await runStatus(conn, rp.run).catch(() => undefined);
      if ((state !== undefined && isTerminal(state)) || run?.state === "exited" || run?.state === "lost") {
        // Whatever was written between the last read and the end.
        const rest = await tail.read(ctx.signal).catch(() => "");
        if (rest) ctx.io.out(rest);
        // If the host's job directory was removed at the end (cleanup), the driver's copies have the rest.
        const copies = tail.catchUp((rel) => {
          const p = join(job.job_dir, rel);
          return existsSync(p) ? readFileSync(p) : undefined;
        });
        if (copies) ctx.io.out(copies);
        const now = ledger.getJob(job.id)!.state;
        ctx.io.err(isTerminal(now) ? `job ${now}\n` : run?.state === "exited" ? `the run on ${conn.where} exited with code ${run.code} (job ${now})\n` : `the run on ${conn.where} was lost (job ${now})\n`);
        return 0;
      }
      try {
        await sleep(o.intervalMs, ctx.signal);
      } catch {
        break;
      }
    }
    ctx.io.err(`detached; ${job.name} keeps running on ${conn.where}\n`);
    return 0;
  } finally {
    conn.close();
  }
}

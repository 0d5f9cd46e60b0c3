/**
 * Before reconciliation terminates a dead job's machine: stop the run with SIGTERM (the engine saves a
 * checkpoint), stop the watchdog, and pull the outputs into the job dir, under one deadline. Best
 * effort — the machine is terminated either way, because a machine nobody drives bills forever.
 */
import { deadlineSignal } from "../../base/deadline.js";
import type { Logger } from "../../base/logger.js";
import type { MachineRecord } from "../../providers/provider.js";
import { privateKeyFor } from "../../remote/ssh/keys.js";
import { stopRun } from "../../remote/session/run.js";
import { pullArtifacts } from "../../remote/sync/pull.js";
import type { JobRecord, Ledger } from "../../store/index.js";
import type { KilnPaths } from "../home.js";
import { jobLayout } from "../job/layout.js";
import { readCloudFile } from "../lifecycle/cloud-file.js";
import { connectMachine } from "../lifecycle/machine.js";
import { remoteHome, remotePaths } from "../lifecycle/remote-job.js";
import { stopWatchdog } from "../watchdog/index.js";

export function salvager(o: { ledger: Ledger; paths: KilnPaths; logger: Logger; signal: AbortSignal; timeoutMs?: number }) {
  return async (job: JobRecord, machine: MachineRecord): Promise<void> => {
    const c = readCloudFile(job.job_dir);
    if (!c || !machine.ssh) return;
    const signal = deadlineSignal(o.timeoutMs ?? c.stopGraceMs + 120_000, o.signal);
    const key = privateKeyFor(o.paths.keys, c.keyPath, c.specDir);
    const conn = await connectMachine({ ...machine, ssh: machine.ssh }, { privateKey: key.privateKey, knownHostsFile: o.paths.knownHosts, timeoutMs: 30_000, signal, logger: o.logger });
    try {
      const rp = remotePaths(await remoteHome(conn), job.id);
      await stopRun(conn, rp.run, { graceMs: c.stopGraceMs });
      await stopWatchdog(conn, rp.watchdog);
      const pulled = await pullArtifacts(conn, `${rp.job}/outputs`, jobLayout(o.paths.jobs, job.id).outputs, { signal });
      for (const e of pulled.manifest) o.ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: true });
      o.ledger.addEvent({ jobId: job.id, kind: "salvage", reason: `checkpointed and pulled ${pulled.manifest.length} files before teardown` });
    } finally {
      conn.close();
    }
  };
}

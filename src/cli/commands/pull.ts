/** `kiln pull JOB`: copy the job's artifacts from its machine, only what changed, each file sha256-verified. */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export const pullCommand = defineCommand({
  name: "pull",
  summary: "Copy a job's artifacts from its machine (only new or changed files, each verified by sha256)",
  positionals: "JOB",
  options: {
    to: { type: "string", description: "Local directory (default: the job's outputs/ in KILN_HOME)", placeholder: "DIR" },
    "from-store": { type: "boolean", description: "Fetch what the watchdog pushed to the job's durable store (artifacts.store) when its machine is gone; a Lambda file system is read through a short-lived retrieval machine" },
  },
  async handler(ctx, args) {
    const [ref] = args.positionals;
    if (ref === undefined) throw new UserError("kiln pull: which job?", { exitCode: 2, hint: "run `kiln status` to list jobs" });
    // Loaded on use (ssh2, zod, SQLite): the command table is imported by every `kiln` invocation.
    const { openLedger, requireJob } = await import("../../core/jobs/index.js");
    const { loadMachineAccess } = await import("../../remote/ssh/access.js");
    const { SshConnection } = await import("../../remote/ssh/connection.js");
    const { loadUserKey } = await import("../../remote/ssh/keys.js");
    const { KnownHosts } = await import("../../remote/ssh/known-hosts.js");
    const { pullArtifacts } = await import("../../remote/sync/pull.js");
    const { verifyLocal } = await import("../../remote/sync/verify.js");
    const { jobLayout } = await import("../../core/job/index.js");
    const ledger = openLedger(ctx.paths);
    try {
      const job = requireJob(ledger, ref);
      if (args.values["from-store"] === true) {
        if (args.values["to"] !== undefined) throw new UserError("kiln pull --from-store fetches into the job's outputs/; --to is for a pull from the machine", { exitCode: 2 });
        const { pullFromStore } = await import("./pull-store.js");
        return await pullFromStore(ctx, ledger, job);
      }
      const layout = jobLayout(ctx.paths.jobs, job.id);
      const access = loadMachineAccess(layout.dir, job.name);
      if (!access.artifactsDir) throw new UserError(`job ${job.name} has not written artifacts on its machine yet`, { hint: `run \`kiln status ${job.name}\`` });
      const to = typeof args.values["to"] === "string" ? args.values["to"] : layout.outputs;
      const conn = await SshConnection.open(
        { host: access.host, port: access.port, user: access.user, privateKey: loadUserKey(access.keyPath, ctx.cwd, "the job machine's SSH key").privateKey, hostKeyAlias: access.hostKeyAlias },
        { knownHosts: new KnownHosts(ctx.paths.knownHosts), timeoutMs: 60_000, logger: ctx.logger, signal: ctx.signal },
      );
      try {
        const r = await pullArtifacts(conn, access.artifactsDir, to, { signal: ctx.signal, logger: ctx.logger });
        const v = await verifyLocal(r.manifest, to);
        for (const e of r.manifest) ledger.recordArtifact({ jobId: job.id, path: e.path, size: e.size, sha256: e.sha256, verified: v.ok });
        ctx.io.out(`Pulled ${r.pulled.length} files (${mb(r.bytes)}), ${r.skipped.length} unchanged, into ${to}\n`);
        ctx.io.out(v.ok ? `All ${v.verified} files verified (sha256 matches the machine).\n` : `NOT verified: ${v.missing.length} missing, ${v.mismatched.length} corrupted.\n`);
        return v.ok ? 0 : 1;
      } finally {
        conn.close();
      }
    } finally {
      ledger.close();
    }
  },
});

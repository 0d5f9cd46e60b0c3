/**
 * `kiln ssh JOB [-- COMMAND…]`: a shell (or one command) on the job's machine through the `Host
 * kiln-<job>` block in Kiln's ssh config, with Kiln's key and host-key pin. `--install-ssh-config` adds
 * an Include to ~/.ssh/config (only when asked); `--forget-host` drops a pin after a real rebuild.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { UserError } from "../../base/errors.js";
import type { MachineAccess } from "../../remote/ssh/access.js";
import { defineCommand } from "../command.js";

export const sshCommand = defineCommand({
  name: "ssh",
  summary: "Open a shell (or run a command) on a job's machine, with Kiln's key and pinned host key",
  positionals: "JOB [-- COMMAND...]",
  options: {
    "print-config": { type: "boolean", description: "Print the ssh config block and command; connect nothing" },
    "install-ssh-config": { type: "boolean", description: "Include Kiln's ssh config from ~/.ssh/config (so `ssh kiln-<job>` works)" },
    "forget-host": { type: "string", description: "Forget the pinned host key of ALIAS (after a machine was really rebuilt)", placeholder: "ALIAS" },
  },
  async handler(ctx, args) {
    // Loaded on use: access.ts brings zod, and the command table is imported by every `kiln` invocation.
    const { KnownHosts } = await import("../../remote/ssh/known-hosts.js");
    const forget = args.values["forget-host"];
    if (typeof forget === "string") {
      const removed = new KnownHosts(ctx.paths.knownHosts).forget(forget);
      ctx.io.out(removed ? `Forgot the pinned host key of ${forget}; the next connection pins the key it presents.\n` : `No pinned host key for ${forget}.\n`);
      return 0;
    }
    const [ref, ...command] = args.positionals;
    if (ref === undefined) throw new UserError("kiln ssh: which job?", { exitCode: 2, hint: "run `kiln status` to list jobs" });
    const { openLedger, requireJob } = await import("../../core/jobs/index.js");
    const { jobLayout } = await import("../../core/job/index.js");
    const { loadMachineAccess } = await import("../../remote/ssh/access.js");
    const { hostBlock, installInclude, writeHostBlock } = await import("../../remote/ssh/ssh-config.js");
    const { shellJoin } = await import("../../remote/exec.js");
    const ledger = openLedger(ctx.paths);
    let access: MachineAccess;
    try {
      const job = requireJob(ledger, ref);
      access = loadMachineAccess(jobLayout(ctx.paths.jobs, job.id).dir, job.name);
    } finally {
      ledger.close();
    }
    writeHostBlock(ctx.paths.sshConfig, access, ctx.paths.knownHosts);
    if (args.values["install-ssh-config"]) {
      const home = ctx.env["HOME"];
      if (!home) throw new UserError("kiln ssh --install-ssh-config: HOME is not set", { hint: `add \`Include ${ctx.paths.sshConfig}\` to your ssh config yourself` });
      const userConfig = join(home, ".ssh", "config");
      ctx.io.err(installInclude(userConfig, ctx.paths.sshConfig) ? `Added \`Include ${ctx.paths.sshConfig}\` to ${userConfig}.\n` : `${userConfig} already includes Kiln's config.\n`);
    }
    const argv = ["-F", ctx.paths.sshConfig, access.hostAlias, ...(command.length > 0 ? [shellJoin(command)] : [])];
    if (args.values["print-config"]) {
      ctx.io.out(`${hostBlock(access, ctx.paths.knownHosts)}\nssh ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ")}\n`);
      return 0;
    }
    return new Promise<number>((resolve, reject) => {
      // Interactive: hand the terminal to ssh. With a command: relay its output through Io.
      const interactive = command.length === 0;
      const child = spawn("ssh", argv, { stdio: interactive ? "inherit" : ["ignore", "pipe", "pipe"], signal: ctx.signal });
      child.stdout?.setEncoding("utf8").on("data", (d: string) => ctx.io.out(d));
      child.stderr?.setEncoding("utf8").on("data", (d: string) => ctx.io.err(d));
      child.on("error", (e: NodeJS.ErrnoException) =>
        reject(e.code === "ENOENT" ? new UserError("kiln ssh needs the OpenSSH client (`ssh`)", { hint: "install openssh-client, or use --print-config" }) : e),
      );
      child.on("close", (code) => resolve(code ?? 255));
    });
  },
});

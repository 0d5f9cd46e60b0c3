/** `kiln verify JOB.yaml`: the machine verification checklist, for the machine the job would run on. */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UserError } from "../../base/errors.js";
import type { Exec } from "../../remote/exec.js";
import { defineCommand } from "../command.js";

export const verifyCommand = defineCommand({
  name: "verify",
  summary: "Check that the job's machine is ready: GPU, free VRAM, driver/CUDA, torch, bf16, disk, workload, model access",
  positionals: "JOB.yaml",
  options: {
    json: { type: "boolean", description: "Print the results as JSON" },
    here: { type: "boolean", description: "Check this computer even when the job is planned for another machine" },
  },
  details:
    "Runs the checklist on the machine the job would use: this computer when the plan is local or CPU, the\n" +
    "resources.ssh host for provider `ssh`. Cloud machines do not exist before `kiln run`, which runs the same\n" +
    "checklist right after boot and tears the machine down if a check fails. Exit code 1 when any check fails.",
  async handler(ctx, args) {
    const [specArg, ...extra] = args.positionals;
    if (specArg === undefined || extra.length > 0) throw new UserError("kiln verify takes one job file", { exitCode: 2, hint: "kiln verify examples/sae-pii-local.yaml" });
    const specPath = resolve(ctx.cwd, specArg);
    const { planJobFile } = await import("../../core/planner/index.js");
    const { localExecWithEnv } = await import("../../core/gpu/local-exec.js");
    const { needFromSpec, renderChecks, checksDocument, verifyMachine } = await import("../../core/verify/index.js");
    const local = localExecWithEnv(ctx.env);
    const { spec, plan } = await planJobFile(specPath, { exec: local, signal: ctx.signal });
    const here = args.values["here"] === true;
    const ssh = spec.resources.providers.includes("ssh") ? spec.resources.ssh : undefined;
    const choice = plan.choice;
    const base = {
      estimatedVramGb: plan.estimate.vramGb,
      env: ctx.env,
      ...(choice?.kind === "cpu" ? { cpuOnly: choice.reason } : {}),
    };

    let exec: Exec;
    let close = () => {};
    let need: ReturnType<typeof needFromSpec>;
    if (ssh !== undefined && !here) {
      const { SshConnection } = await import("../../remote/ssh/connection.js");
      const { KnownHosts, hostPortAlias } = await import("../../remote/ssh/known-hosts.js");
      const { privateKeyFor } = await import("../../remote/ssh/keys.js");
      const key = privateKeyFor(ctx.paths.keys, ssh.key, dirname(specPath));
      // Before `kiln run` sets up its venv, the machine's own python3 is what there is to check. (Worked
      // out before connecting: nothing between the open and the try below may throw and leak the connection.)
      need = needFromSpec(spec, { ...base, python: "python3", diskPath: ".", afterSetup: false });
      const conn = await SshConnection.open(
        { host: ssh.host, port: ssh.port, user: ssh.user, privateKey: key.privateKey, hostKeyAlias: hostPortAlias(ssh.host, ssh.port) },
        { knownHosts: new KnownHosts(ctx.paths.knownHosts), timeoutMs: 60_000, logger: ctx.logger, signal: ctx.signal },
      );
      exec = conn;
      close = () => conn.close();
    } else if (here || choice?.kind === "local" || choice?.kind === "cpu") {
      const { choosePython } = await import("../../core/pipeline/python.js");
      const py = choosePython(spec.workload.type === "sae-pii" ? spec.workload.python : undefined, dirname(specPath));
      const installed = existsSync(py.python);
      exec = local;
      need = needFromSpec(spec, { ...base, python: installed ? py.python : "python3", diskPath: ctx.cwd, afterSetup: installed });
    } else {
      const where = choice?.offer ? `${choice.offer.provider} ${choice.offer.instanceType}` : "no machine (see `kiln plan`)";
      throw new UserError(`${spec.name} is planned for ${where}: there is no machine to check before \`kiln run\`, which verifies it right after boot`, {
        exitCode: 2,
        hint: `kiln verify ${specArg} --here   # check this computer anyway`,
      });
    }

    try {
      // Ask the Hub whether the model is readable with the token the job will get, unless told to stay
      // offline (HF_HUB_OFFLINE is Hugging Face's own switch).
      const token = ctx.env["HF_TOKEN"] || ctx.env["HUGGING_FACE_HUB_TOKEN"];
      const endpoint = ctx.env["HF_ENDPOINT"];
      const hub = ctx.env["HF_HUB_OFFLINE"] ? undefined : { ...(token ? { token } : {}), ...(endpoint ? { endpoint } : {}) };
      const results = await verifyMachine(exec, need, { signal: ctx.signal, logger: ctx.logger, ...(hub ? { hub } : {}) });
      if (args.values["json"] === true) ctx.io.out(`${JSON.stringify({ job: spec.name, ...checksDocument(exec.where, results) }, null, 2)}\n`);
      else ctx.io.out(renderChecks(exec.where === "local" ? "this computer" : exec.where, results));
      return results.some((r) => r.status === "fail") ? 1 : 0;
    } finally {
      close();
    }
  },
});

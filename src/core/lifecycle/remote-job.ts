/**
 * The job on the machine: stage the engine configs and a step script locally, ship them as a bundle
 * (secret-scanned, manifest-verified on arrival), and start the script as a persistent run that
 * survives SSH drops and Kiln exiting.
 *
 * Layout on the machine, under `<home>/kiln/jobs/<jobId>/`:
 *   job/            the unpacked bundle: sae.yaml, probe.yaml, kiln-job.sh; job/outputs and job/logs
 *   run/            the persistent run's state (pid, pgid, exit_code, output.log)
 *   watchdog/       the budget watchdog's run
 *
 * A `type: command` job also ships the user's working directory (the spec's folder, honouring .kilnignore
 * and .gitignore) under `<base>/work`, and its steps run there, never in a path of this computer.
 *
 * The bundle is built and secret-scanned before any machine exists (./prepare.ts), when the machine's
 * home is not known yet: staged files name the machine's job base as {@link REMOTE_BASE_PLACEHOLDER},
 * which {@link shipBundle} replaces with the real path once the bundle is unpacked and verified.
 *
 * Paths the pipeline builder wrote for the local staging dir are rewritten to the machine's. The
 * Python on the machine: for a simulated machine (this computer behind a loopback sshd) the local one
 * the spec would use; on a real cloud, the `workload/` package ships in the bundle (under `<base>/workload`)
 * and remote setup builds (or reuses) a venv that `job/env.sh` puts first on PATH.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { KilnError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { type Bundle, type BundleManifest, createBundle } from "../../remote/bundle/index.js";
import { unpackAndVerify } from "../../remote/bundle/unpack.js";
import type { MachineAccess } from "../../remote/access.js";
import { commandLine } from "../../remote/ssh/command-line.js";
import { runChecked } from "../../remote/ssh/run-checked.js";
import { shellQuote } from "../../remote/exec.js";
import { requirementsHashOf, setupRemoteEnvironment } from "../../remote/setup/index.js";
import { type RunHandle, startRun } from "../../remote/session/run.js";
import type { JobLayout } from "../job/layout.js";
import type { Step } from "../job/run-file.js";
import { buildPipeline, choosePython } from "../pipeline/index.js";
import type { JobSpec } from "../spec/index.js";
import { crashPoint } from "./crash.js";

export interface RemotePaths {
  base: string;
  job: string;
  outputs: string;
  run: string;
  watchdog: string;
}

/**
 * Stands for the machine's `<home>/kiln/jobs/<jobId>` in files staged before the machine exists. A path
 * no real machine has, so a file that still holds it after shipping fails loudly instead of writing elsewhere.
 */
export const REMOTE_BASE_PLACEHOLDER = "/__kiln_remote_job_base__";

/** Where the user's working directory of a `type: command` job lands on the machine, under the job base. */
export const WORK_ROOT = "work";

export const remotePaths = (home: string, jobId: string): RemotePaths => {
  const base = `${home.replace(/\/+$/, "")}/kiln/jobs/${jobId}`;
  return { base, job: `${base}/job`, outputs: `${base}/job/outputs`, run: `${base}/run`, watchdog: `${base}/watchdog` };
};

export async function remoteHome(conn: MachineAccess): Promise<string> {
  const r = await runChecked(conn, ["sh", "-c", "pwd"], { what: "find the remote home" });
  const home = r.stdout.trim();
  if (!home.startsWith("/")) throw new KilnError("remote-output-unparsable", `unexpected home directory on ${conn.where}: ${JSON.stringify(home)}`);
  return home;
}

/** The step script: each step in order, logs per step, stop after the current step on SIGTERM. */
export function stepScript(steps: readonly Step[]): string {
  const lines = [
    "#!/bin/sh",
    "# Written by Kiln: the job's steps, in order.",
    "trap 'kiln_stop=1' TERM",
    // outputs/ is not in the bundle (the staging dir's is removed): a command writing to $KILN_OUTPUT_DIR needs it.
    'mkdir -p "$(dirname "$0")/logs" "$(dirname "$0")/outputs"',
    // Written by remote setup: puts the job's venv first on PATH.
    'if [ -f "$(dirname "$0")/env.sh" ]; then . "$(dirname "$0")/env.sh"; fi',
  ];
  for (const s of steps) {
    lines.push(`echo "kiln: step ${s.name}"`);
    lines.push(`( ${commandLine(s.argv, { cwd: s.cwd, env: s.env })} ) >> "$(dirname "$0")/logs/${s.name}.log" 2>&1 < /dev/null`);
    lines.push("code=$?", '[ "$code" -eq 0 ] || exit "$code"', '[ -z "$kiln_stop" ] || exit 143');
  }
  lines.push("");
  return lines.join("\n");
}

/**
 * A local dataset (`workload.sae.dataset.path`) on this computer is not on the machine: copy it into the staging
 * dir (`data/<name>`), so it ships in the bundle (secret-scanned, manifest-verified) and the engine
 * config points at the machine's copy. A Hugging Face dataset (`name`) is fetched on the machine.
 */
function stageDataset(spec: JobSpec, specDir: string, stageDir: string): JobSpec {
  const w = spec.workload;
  if (w.type !== "sae-pii" || w.sae.dataset.path === undefined) return spec;
  const from = isAbsolute(w.sae.dataset.path) ? w.sae.dataset.path : resolve(specDir, w.sae.dataset.path);
  // Not here: a path on the machine itself (a user's host may hold the data); the engine reads it there.
  if (!existsSync(from)) return spec;
  const to = join(stageDir, "data", basename(from));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true });
  return { ...spec, workload: { ...w, sae: { ...w.sae, dataset: { ...w.sae.dataset, path: to } } } };
}

function rewrite(value: string, from: string, to: string): string {
  return value.split(from).join(to);
}

/** Build the staging dir (configs + step script) with paths for the machine's job dir. */
export function stageJob(o: {
  spec: JobSpec;
  specDir: string;
  jobId: string;
  stageDir: string;
  remoteJobDir: string;
  passEnv?: Record<string, string>;
  /** The interpreter on the machine ("python" from the venv that remote setup puts first on PATH). */
  python?: string;
  /** A `type: command` job's working directory, shipped: its local path and where it lands on the machine. */
  workDir?: { local: string; remote: string };
}): Step[] {
  rmSync(o.stageDir, { recursive: true, force: true });
  const layout: JobLayout = {
    dir: o.stageDir,
    spec: join(o.stageDir, "spec.yaml"),
    runFile: join(o.stageDir, "run.json"),
    logs: join(o.stageDir, "logs"),
    supervisorLog: join(o.stageDir, "logs", "supervisor.log"),
    outputs: join(o.stageDir, "outputs"),
    reportMd: join(o.stageDir, "report.md"),
    reportHtml: join(o.stageDir, "report.html"),
  };
  const python = o.python !== undefined ? { python: o.python } : o.spec.workload.type === "sae-pii" ? choosePython(o.spec.workload.python, o.specDir) : { python: "python3" };
  // The staging dir first: it may lie under the working dir (a KILN_HOME inside the project).
  const remote = (v: string) => {
    const r = rewrite(v, o.stageDir, o.remoteJobDir);
    return o.workDir ? rewrite(r, o.workDir.local, o.workDir.remote) : r;
  };
  const steps = buildPipeline({ spec: stageDataset(o.spec, o.specDir, o.stageDir), layout, specDir: o.specDir, python }).map(
    (s): Step => ({
      ...s,
      argv: s.argv.map(remote),
      cwd: remote(s.cwd),
      env: Object.fromEntries(Object.entries({ ...o.passEnv, ...s.env, KILN_JOB_ID: o.jobId }).map(([k, v]) => [k, remote(v)])),
      ...(s.metrics !== undefined && { metrics: remote(s.metrics) }),
      ...(s.outputDir !== undefined && { outputDir: remote(s.outputDir) }),
    }),
  );
  // Engine configs name their output dirs with the staging path; point them at the machine's.
  for (const f of readdirSync(o.stageDir)) {
    const p = join(o.stageDir, f);
    if (statSync(p).isFile()) writeFileSync(p, rewrite(readFileSync(p, "utf8"), o.stageDir, o.remoteJobDir));
  }
  rmSync(layout.outputs, { recursive: true, force: true });
  writeFileSync(join(o.stageDir, "kiln-job.sh"), stepScript(steps), { mode: 0o755 });
  return steps;
}

/** Bundle the staging dir, upload, unpack and verify on the machine (a bundle built on the spot; see {@link shipBundle}). */
export async function shipJob(
  conn: MachineAccess,
  o: { stageDir: string; bundleDir: string; paths: RemotePaths; signal: AbortSignal; logger: Logger; env?: NodeJS.ProcessEnv; workloadDir?: string; allowSecretsIn?: readonly string[] },
): Promise<{ bytes: number; files: number; requirementsHash: string | undefined }> {
  mkdirSync(o.bundleDir, { recursive: true });
  // allowSecretsIn: the spec's bundle.allow_secrets, matched against the paths the scanner reports.
  const bundle = await createBundle({ workdir: o.stageDir, outDir: o.bundleDir, logger: o.logger, ...(o.workloadDir && { extraDirs: [{ dir: o.workloadDir, as: "workload" }] }), ...(o.allowSecretsIn && { allowSecretsIn: o.allowSecretsIn }) });
  return shipBundle(conn, { bundle, paths: o.paths, signal: o.signal, ...(o.env && { env: o.env }) });
}

/**
 * Upload a bundle already built (and secret-scanned), unpack and verify it on the machine, then put the
 * machine's job base into the files staged with {@link REMOTE_BASE_PLACEHOLDER} (`placeholderFiles`,
 * bundle paths such as `job/kiln-job.sh`).
 */
export async function shipBundle(
  conn: MachineAccess,
  o: { bundle: Pick<Bundle, "path" | "bytes" | "manifest">; paths: RemotePaths; signal: AbortSignal; env?: NodeJS.ProcessEnv; placeholderFiles?: readonly string[] },
): Promise<{ bytes: number; files: number; requirementsHash: string | undefined }> {
  const remoteTar = `${o.paths.base}/bundle.tar.gz`;
  await runChecked(conn, ["mkdir", "-p", "--", dirname(remoteTar)], { what: "create the job directory" });
  await conn.upload(o.bundle.path, remoteTar, { signal: o.signal });
  crashPoint("during-upload", o.env);
  // The bundle packs the workdir under job/, so unpacking into the base gives <base>/job/….
  await unpackAndVerify(conn, remoteTar, o.paths.base, o.bundle.manifest as BundleManifest, o.signal);
  if (o.placeholderFiles && o.placeholderFiles.length > 0) await placeRemoteBase(conn, o.paths.base, o.placeholderFiles);
  const requirementsHash = requirementsHashOf(o.bundle as Bundle);
  return { bytes: o.bundle.bytes, files: o.bundle.manifest.files.length, requirementsHash };
}

/** Replace the placeholder with the job base in the given bundle files (argv: no shell string is built from the path). */
async function placeRemoteBase(conn: MachineAccess, base: string, files: readonly string[]): Promise<void> {
  if (/[\n\\|&]/.test(base)) throw new KilnError("remote-path", `the job directory on the machine has a character Kiln cannot place in its files: ${JSON.stringify(base)}`);
  // `cat >` keeps each file's mode (kiln-job.sh stays executable).
  const script = 'b="$1"; shift; for f in "$@"; do sed -e "s|$PH|$b|g" "$f" > "$f.kiln-tmp" && cat "$f.kiln-tmp" > "$f" && rm -f "$f.kiln-tmp" || exit 1; done';
  await runChecked(conn, ["env", `PH=${REMOTE_BASE_PLACEHOLDER}`, "sh", "-c", script, "sh", base, ...files.map((f) => `${base}/${f}`)], { what: "put the job's paths into its files" });
}

/**
 * `method`: "setsid" for emulated machines and a loopback host: those are this computer, where a tmux
 * server's global environment (from whichever session started it first) is inherited by new sessions (the
 * emulator now gives each machine its own tmux socket, but a user's loopback host shares theirs). A real
 * machine has its own server, and tmux lets a person attach there.
 */
export async function startJob(conn: MachineAccess, jobId: string, paths: RemotePaths, method: "auto" | "setsid" = "auto"): Promise<RunHandle> {
  return startRun(conn, { name: `kiln-${jobId}`, dir: paths.run, argv: ["sh", `${paths.job}/kiln-job.sh`], cwd: paths.job, method });
}

/** Remote setup for a real machine: a keyed venv with the shipped workload, first on the job's PATH. */
export async function setupJobPython(conn: MachineAccess, o: { home: string; paths: RemotePaths; requirementsHash: string; signal: AbortSignal; logger: Logger }): Promise<string> {
  const env = await setupRemoteEnvironment(conn, { workloadDir: `${o.paths.base}/workload`, venvsDir: `${o.home}/.kiln/venvs`, requirementsHash: o.requirementsHash, extras: ["pii"], signal: o.signal, logger: o.logger });
  const bin = env.venv.python.replace(/\/[^/]+$/, "");
  // The venv is shared by every job with the same requirements, and its .pth names the latest job's
  // workload copy: PYTHONPATH pins this job to its own copy (another job's setup cannot swap it).
  const pythonPath = `PYTHONPATH=${shellQuote(`${o.paths.base}/workload`)}\${PYTHONPATH:+:$PYTHONPATH}; export PYTHONPATH\n`;
  await runChecked(conn, ["sh", "-c", 'cat > "$1"', "sh", `${o.paths.job}/env.sh`], { stdin: `PATH=${shellQuote(bin)}:"$PATH"; export PATH\n${pythonPath}`, what: "write the job's environment" });
  return env.venv.python;
}

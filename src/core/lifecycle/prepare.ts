/**
 * The job's bundle, built before the meter starts: `kiln run` stages the job (engine configs, step script,
 * a local dataset), packs it with the workload and, for `type: command`, the user's working directory,
 * secret-scans all of it, and writes `prepared.json` beside cloud.json. The driver ships exactly that
 * bundle once it has a machine (it never builds another), so what was scanned is what is uploaded.
 *
 * The machine's home is unknown until SSH, so staged files name the job base as REMOTE_BASE_PLACEHOLDER;
 * shipBundle puts the real path in on arrival, and {@link stepsOnMachine} does the same for the driver.
 */
import { readFileSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { z } from "zod";
import { KilnError, UserError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { bundleManifestSchema, createBundle } from "../../remote/bundle/index.js";
import { type Step, StepSchema } from "../job/run-file.js";
import { REPO_ROOT } from "../pipeline/index.js";
import type { JobSpec } from "../spec/index.js";
import { REMOTE_BASE_PLACEHOLDER, WORK_ROOT, stageJob } from "./remote-job.js";

/** How the job's code reaches the machine: remote setup (a venv from the shipped workload), the workload shipped, the interpreter. */
export interface Shipping {
  setup: boolean;
  ship: boolean;
  python: string | undefined;
}

/**
 * A real machine gets the workload shipped and a venv built; an emulated one is this computer (its
 * Python is the spec's). A user's host with its own interpreter runs the shipped workload with it.
 */
export function shippingFor(spec: JobSpec, o: { emulated: boolean; hostPython?: string | undefined; env: NodeJS.ProcessEnv }): Shipping {
  const sae = spec.workload.type === "sae-pii" && spec.workload.python === undefined;
  const setup = sae && o.hostPython === undefined && (!o.emulated || o.env["KILN_REMOTE_SETUP"] === "1");
  const ship = setup || (sae && o.hostPython !== undefined);
  return { setup, ship, python: setup ? "python" : sae ? o.hostPython : undefined };
}

const PreparedSchema = z.strictObject({
  version: z.literal(1),
  bundle: z.strictObject({ path: z.string(), sha256: z.string(), bytes: z.number().int().nonnegative(), manifest: bundleManifestSchema }),
  /** Bundle paths (`job/kiln-job.sh`, …) that name the placeholder, rewritten on the machine. */
  placeholderFiles: z.array(z.string()),
  /** The job's steps with the placeholder for the machine's job base. */
  steps: z.array(StepSchema),
  setup: z.boolean(),
  ship: z.boolean(),
});
export type PreparedJob = z.infer<typeof PreparedSchema>;

const preparedPath = (jobDir: string) => join(jobDir, "prepared.json");

/** The working directory of a `type: command` job: the spec's folder (or workload.workdir inside it). */
export function commandWorkDir(spec: JobSpec, specDir: string): string | undefined {
  const w = spec.workload;
  if (w.type !== "command") return undefined;
  const dir = w.workdir ? resolve(specDir, w.workdir) : specDir;
  const rel = relative(specDir, dir);
  if (rel === ".." || rel.startsWith(`..${sep}`) || resolve(specDir, rel) !== dir) {
    throw new UserError(`workload.workdir: ${w.workdir} is outside the spec's folder ${specDir}; Kiln ships that folder to the machine`, {
      exitCode: 2,
      hint: "move the job file to the top of your project, or point workload.workdir at a folder inside it",
    });
  }
  return dir;
}

/** Stage, bundle and secret-scan the job into `jobDir` (stage/, bundles/, prepared.json). A secret is a SecretsFoundError (a UserError). */
export async function prepareJob(o: {
  spec: JobSpec;
  specDir: string;
  jobId: string;
  jobDir: string;
  shipping: Shipping;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Directories never packed (Kiln's home when the project holds it). */
  exclude?: readonly string[];
}): Promise<PreparedJob> {
  const stageDir = join(o.jobDir, "stage");
  const workDir = commandWorkDir(o.spec, o.specDir);
  // Only non-secret switches travel to the machine's environment (HF_TOKEN is handled by the secrets path).
  const passEnv = o.env["HF_HUB_OFFLINE"] ? { HF_HUB_OFFLINE: o.env["HF_HUB_OFFLINE"] } : undefined;
  const steps = stageJob({
    spec: o.spec,
    specDir: o.specDir,
    jobId: o.jobId,
    stageDir,
    remoteJobDir: `${REMOTE_BASE_PLACEHOLDER}/job`,
    ...(passEnv && { passEnv }),
    ...(o.shipping.python !== undefined && { python: o.shipping.python }),
    ...(workDir !== undefined && { workDir: { local: o.specDir, remote: `${REMOTE_BASE_PLACEHOLDER}/${WORK_ROOT}` } }),
  });
  const extraDirs = [...(o.shipping.ship ? [{ dir: join(REPO_ROOT, "workload"), as: "workload" }] : []), ...(workDir !== undefined ? [{ dir: o.specDir, as: WORK_ROOT }] : [])];
  // allowSecretsIn: the spec's bundle.allow_secrets, matched against the paths the scanner reports.
  const bundle = await createBundle({
    workdir: stageDir,
    outDir: join(o.jobDir, "bundles"),
    // The bundle's size line is for the debug log: the check that built it reports it (warnings still show).
    logger: { ...o.logger, info: (msg, fields) => o.logger.debug(msg, fields) },
    extraDirs,
    allowSecretsIn: workDir !== undefined ? [...o.spec.bundle.allow_secrets, ...o.spec.bundle.allow_secrets.map((p) => `${WORK_ROOT}/${p.replace(/^\/+/, "")}`)] : o.spec.bundle.allow_secrets,
    exclude: [o.jobDir, ...(o.exclude ?? [])],
  });
  const placeholderFiles = readdirSync(stageDir)
    .filter((f) => statSync(join(stageDir, f)).isFile() && readFileSync(join(stageDir, f), "utf8").includes(REMOTE_BASE_PLACEHOLDER))
    .map((f) => `job/${f}`);
  const prepared: PreparedJob = {
    version: 1,
    bundle: { path: bundle.path, sha256: bundle.sha256, bytes: bundle.bytes, manifest: bundle.manifest },
    placeholderFiles,
    steps,
    setup: o.shipping.setup,
    ship: o.shipping.ship,
  };
  writeFileSync(`${preparedPath(o.jobDir)}.tmp`, `${JSON.stringify(prepared, null, 1)}\n`);
  renameSync(`${preparedPath(o.jobDir)}.tmp`, preparedPath(o.jobDir));
  return prepared;
}

export function readPreparedJob(jobDir: string): PreparedJob {
  let text: string;
  try {
    text = readFileSync(preparedPath(jobDir), "utf8");
  } catch (e) {
    throw new KilnError("prepared_missing", `${preparedPath(jobDir)} is missing: the job was not prepared before launch`, { cause: e });
  }
  const r = PreparedSchema.safeParse(JSON.parse(text));
  if (!r.success) throw new KilnError("prepared_invalid", `${preparedPath(jobDir)} is invalid: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** The steps with the machine's job base in place of the placeholder (for monitoring and the report). */
export function stepsOnMachine(steps: readonly Step[], base: string): Step[] {
  const put = (v: string) => v.split(REMOTE_BASE_PLACEHOLDER).join(base);
  return steps.map((s) => ({
    ...s,
    argv: s.argv.map(put),
    cwd: put(s.cwd),
    env: Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, put(v)])),
    ...(s.metrics !== undefined && { metrics: put(s.metrics) }),
    ...(s.outputDir !== undefined && { outputDir: put(s.outputDir) }),
  }));
}

/**
 * Checks before the meter starts (docs/lifecycle.md §10): everything that needs no machine, run in the
 * foreground of `kiln run` before any launch call, and printed by `kiln plan`: the spec, the local inputs
 * (the dataset path exists and its first records parse; a command job's working directory), the bundle
 * built and secret-scanned (the same bundle is shipped), credentials present, the budget against the
 * estimate. A failure is a UserError naming the field or file and the fix; nothing is launched.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { UserError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { ProviderError } from "../../providers/provider.js";
import { providerNamed } from "../../providers/registry.js";
import type { KilnPaths } from "../home.js";
import type { JobSpec } from "../spec/index.js";
import { checkLocalInputs } from "./inputs.js";
import { type PreparedJob, type Shipping, commandWorkDir, prepareJob, shippingFor } from "./prepare.js";
import { howToConfigure, requireCloud } from "./providers.js";

export type CheckName = "spec" | "inputs" | "bundle" | "credentials" | "budget";

export interface PreLaunchCheck {
  name: CheckName;
  status: "ok" | "failed" | "skipped";
  detail: string;
  /** The failure as the user sees it (set when `status` is "failed"). */
  error?: UserError;
}

export interface PreLaunchReport {
  checks: PreLaunchCheck[];
  /** The bundle that will be shipped (when built into a job dir for `kiln run`). */
  prepared?: PreparedJob;
}

export interface PreLaunchOptions {
  spec: JobSpec;
  specPath: string;
  /** Where the job may run: `kiln run --provider X` → [X]; `kiln plan` → the spec's providers. */
  providers: readonly string[];
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** `--sim`: a simulated account, no credentials needed. */
  sim?: boolean;
  /** The planner's verdict: its refusal (the estimate exceeds the cap) or the estimate it accepted. */
  budget: { refusal?: string | undefined; estimateUsd?: number | undefined };
  /**
   * Build the bundle into this job's dir, to be shipped by its driver (`kiln run`); absent: build it in a
   * scratch dir and throw it away (`kiln plan`).
   */
  job?: { jobId: string; jobDir: string; shipping: Shipping };
}

/** Run every check, in order; a check that fails does not stop the others (the user sees them all at once). */
export async function preLaunchChecks(o: PreLaunchOptions): Promise<PreLaunchReport> {
  const checks: PreLaunchCheck[] = [];
  const specDir = dirname(o.specPath);
  const kinds = o.providers.map((p) => providerNamed(p).kind);
  const remote = kinds.some((k) => k !== "local");
  const record = async (name: CheckName, run: () => Promise<string | { skipped: string }>) => {
    try {
      const r = await run();
      checks.push(typeof r === "string" ? { name, status: "ok", detail: r } : { name, status: "skipped", detail: r.skipped });
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      checks.push({ name, status: "failed", detail: e.message, error: e });
    }
  };

  await record("spec", async () => `${o.specPath}: valid (job ${o.spec.name}, ${o.spec.workload.type})`);
  // A path missing here may be on the user's own host (provider ssh reads it there); nowhere else.
  await record("inputs", async () => checkLocalInputs(o.spec, specDir, { remote, mayBeOnHost: kinds.length > 0 && kinds.every((k) => k === "host") }));
  let prepared: PreparedJob | undefined;
  await record("bundle", async () => {
    if (!remote) return { skipped: "nothing to ship: the job runs on this computer" };
    commandWorkDir(o.spec, specDir);
    if (o.job) {
      prepared = await prepareJob({ spec: o.spec, specDir, jobId: o.job.jobId, jobDir: o.job.jobDir, shipping: o.job.shipping, env: o.env, logger: o.logger, exclude: [o.paths.home] });
      return bundleDetail(prepared);
    }
    // `kiln plan`: the bundle a rented machine would get, built and scanned, then thrown away.
    const scratch = mkdtempSync(join(tmpdir(), "kiln-plan-bundle-"));
    try {
      const shipping = shippingFor(o.spec, { emulated: false, env: o.env });
      return bundleDetail(await prepareJob({ spec: o.spec, specDir, jobId: "plan", jobDir: scratch, shipping, env: o.env, logger: o.logger, exclude: [o.paths.home] }));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
  await record("credentials", async () => {
    const clouds = o.providers.filter((p) => providerNamed(p).kind === "cloud");
    if (clouds.length === 0) return { skipped: "no cloud account needed" };
    if (o.sim) return { skipped: "--sim: a simulated account" };
    const found: string[] = [];
    for (const p of clouds) {
      const d = providerNamed(p);
      if (!o.job && !d.configured) {
        found.push(`${p}: catalog prices only (Kiln cannot rent there yet)`);
        continue;
      }
      if (!o.job && d.configured) {
        // `kiln plan` prices a cloud without a key from its catalog: not configured is a note, an unsafe file a failure.
        const c = await d.configured({ env: o.env, credentialsPath: o.paths.credentials, logger: o.logger }).catch((e: unknown) => {
          throw asUserError(e);
        });
        found.push(c ? `${p} (${c.source})` : `${p}: not configured (priced from the catalog; \`kiln run --provider ${p}\` needs a key: ${howToConfigure(d, o.paths.credentials)})`);
        continue;
      }
      const c = await requireCloud(p, { env: o.env, credentialsPath: o.paths.credentials, logger: o.logger }).catch((e: unknown) => {
        throw asUserError(e);
      });
      found.push(`${p} (${c.source})`);
    }
    return found.join("; ");
  });
  await record("budget", async () => {
    if (o.budget.refusal) throw new UserError(o.budget.refusal, { exitCode: 2, hint: "raise budget.max_usd, train fewer tokens/epochs, or allow more providers or GPUs in resources" });
    const est = o.budget.estimateUsd;
    return `${est !== undefined ? `estimate $${est.toFixed(2)} ` : ""}within budget.max_usd $${o.spec.budget.max_usd.toFixed(2)}`;
  });
  return { checks, ...(prepared && { prepared }) };
}

/** Throw the first failed check's error (the user fixes one thing at a time; `kiln plan` lists them all). */
export function requireChecksPassed(r: PreLaunchReport): void {
  const failed = r.checks.filter((c) => c.status === "failed");
  const first = failed[0];
  if (!first?.error) return;
  if (failed.length === 1) throw first.error;
  const more = failed.slice(1).map((c) => `${c.name}: ${c.detail.split("\n")[0]}`);
  throw new UserError(`${first.error.message}\n(also: ${more.join("; ")})`, { exitCode: first.error.exitCode, cause: first.error, ...(first.error.hint !== undefined && { hint: first.error.hint }) });
}

/** The checks as `kiln plan` prints them: one line each, failures with their fix. */
export function renderChecks(r: PreLaunchReport): string {
  const mark = { ok: "ok  ", failed: "FAIL", skipped: "--  " } as const;
  const lines = ["Checks before launch:"];
  for (const c of r.checks) {
    const [first, ...rest] = c.detail.split("\n");
    lines.push(`  ${mark[c.status]} ${c.name.padEnd(11)} ${first}`);
    for (const l of rest) lines.push(`       ${" ".repeat(11)} ${l}`);
    if (c.status === "failed" && c.error?.hint) lines.push(`       ${" ".repeat(11)} → ${c.error.hint}`);
  }
  return `${lines.join("\n")}\n`;
}

function bundleDetail(p: PreparedJob): string {
  const roots = Object.keys(p.bundle.manifest.roots).join(" + ");
  return `${p.bundle.manifest.files.length} files (${roots}), ${(p.bundle.bytes / 1e6).toFixed(1)} MB, secret-scanned (${p.bundle.sha256.slice(0, 12)})`;
}

/** A provider's refusal to read its credentials (an unsafe file) as the user's error, with its advice. */
function asUserError(e: unknown): unknown {
  if (!(e instanceof ProviderError)) return e;
  return new UserError(`${e.provider}: ${e.message}`, { exitCode: 2, cause: e, ...(e.suggestion !== undefined && { hint: e.suggestion }) });
}

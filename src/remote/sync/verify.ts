/**
 * "Never tear down before the artifacts are verified": {@link assertSafeToTearDown} pulls the
 * machine's artifact directory, re-hashes every local file against a manifest computed on the machine
 * just now, and throws `KilnError("artifacts-unverified")` when anything is missing, different,
 * unreachable or empty. The lifecycle refuses to terminate a machine on that error unless `--force`.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage, KilnError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { MachineAccess } from "../access.js";
import { type Manifest, sha256Local } from "./manifest.js";
import { pullArtifacts } from "./pull.js";

export interface LocalVerification {
  ok: boolean;
  verified: number;
  missing: string[];
  mismatched: { path: string; expectedSha256: string; gotSha256?: string; expectedSize: number; gotSize: number }[];
}

/** Hash every manifest entry under `dir` (no cache: this is the final word). */
export async function verifyLocal(manifest: Manifest, dir: string): Promise<LocalVerification> {
  const out: LocalVerification = { ok: true, verified: 0, missing: [], mismatched: [] };
  for (const e of manifest) {
    const p = join(dir, ...e.path.split("/"));
    let size: number;
    try {
      size = (await stat(p)).size;
    } catch {
      out.missing.push(e.path);
      continue;
    }
    if (size !== e.size) {
      out.mismatched.push({ path: e.path, expectedSha256: e.sha256, expectedSize: e.size, gotSize: size });
      continue;
    }
    const sha = await sha256Local(p);
    if (sha !== e.sha256) out.mismatched.push({ path: e.path, expectedSha256: e.sha256, gotSha256: sha, expectedSize: e.size, gotSize: size });
    else out.verified++;
  }
  out.ok = out.missing.length === 0 && out.mismatched.length === 0;
  return out;
}

export interface TearDownCheck {
  conn: MachineAccess;
  remoteDir: string;
  localDir: string;
  /** Files that must be among the artifacts (e.g. "sae/sae.safetensors", "probe/probe.json"). */
  required?: readonly string[];
  /** Where the user can run the manual recovery, named in the message (e.g. "kiln pull j42"). */
  pullCommand?: string;
  signal?: AbortSignal;
  logger?: Logger;
}

function unverified(check: TearDownCheck, why: string, details: Record<string, unknown>, cause?: unknown): KilnError {
  return new KilnError(
    "artifacts-unverified",
    `refusing to tear down ${check.conn.where}: the artifacts in ${check.remoteDir} are not safely copied (${why}). ` +
      `The machine is kept. Retry with \`${check.pullCommand ?? "kiln pull JOB"}\`, or pass --force to tear down anyway and lose them.`,
    { details: { remoteDir: check.remoteDir, localDir: check.localDir, ...details }, ...(cause === undefined ? {} : { cause }) },
  );
}

/** Pull, then verify against a manifest computed on the machine; throws `artifacts-unverified`. */
export async function assertSafeToTearDown(check: TearDownCheck): Promise<{ manifest: Manifest; verified: number; pulledBytes: number }> {
  let pulled: Awaited<ReturnType<typeof pullArtifacts>>;
  try {
    pulled = await pullArtifacts(check.conn, check.remoteDir, check.localDir, {
      ...(check.signal ? { signal: check.signal } : {}),
      ...(check.logger ? { logger: check.logger } : {}),
    });
  } catch (e) {
    throw unverified(check, `pulling failed: ${errorMessage(e)}`, { cause: errorMessage(e) }, e);
  }
  const { manifest } = pulled;
  if (manifest.length === 0) throw unverified(check, "the machine's artifact directory is empty", {});
  const missingRequired = (check.required ?? []).filter((r) => !manifest.some((e) => e.path === r));
  if (missingRequired.length > 0) throw unverified(check, `required artifacts were never written: ${missingRequired.join(", ")}`, { missingRequired });
  const v = await verifyLocal(manifest, check.localDir);
  if (!v.ok) {
    throw unverified(check, `${v.missing.length} missing and ${v.mismatched.length} corrupted local files`, { missing: v.missing, mismatched: v.mismatched });
  }
  return { manifest, verified: v.verified, pulledBytes: pulled.bytes };
}

/**
 * The far side of a bundle: unpack it into a directory and check every file against the manifest that
 * came with it, so a truncated upload or a disk error shows up before setup, not as an import error
 * in the middle of a run.
 */
import { posix } from "node:path";
import { KilnError } from "../../base/errors.js";
import type { Exec } from "../exec.js";
import type { BundleManifest } from "./manifest.js";

// Keeps each sha256sum command line well under ARG_MAX and SSH's practical command length.
const BATCH = 200;

export interface UnpackResult {
  verified: number;
  mismatched: string[];
  missing: string[];
}

/** `tar -xzf` the bundle into `dir` (created if needed) on the machine. */
export async function unpackBundle(exec: Exec, tarball: string, dir: string, signal?: AbortSignal): Promise<void> {
  const opts = { timeoutMs: 300_000, ...(signal ? { signal } : {}) };
  const mk = await exec.run(["mkdir", "-p", dir], opts);
  const x = mk.code === 0 ? await exec.run(["tar", "-xzf", tarball, "-C", dir, "--no-same-owner"], opts) : mk;
  if (x.code !== 0) {
    throw new KilnError("bundle_unpack_failed", `could not unpack ${tarball} into ${dir} on ${exec.where}: ${x.stderr.trim().split("\n").slice(-2).join(" ")}`, {
      details: { code: x.code },
    });
  }
}

/** Hash every manifest file under `dir` on the machine and compare. Never throws for a mismatch. */
export async function checkUnpacked(exec: Exec, dir: string, manifest: BundleManifest, signal?: AbortSignal): Promise<UnpackResult> {
  const expected = new Map(manifest.files.map((f) => [f.path, f.sha256]));
  const seen = new Map<string, string>();
  const paths = manifest.files.map((f) => f.path);
  for (let i = 0; i < paths.length; i += BATCH) {
    const batch = paths.slice(i, i + BATCH);
    // `--` so a file named like an option stays a file; missing files are reported on stderr.
    const r = await exec.run(["sha256sum", "--", ...batch], { cwd: dir, timeoutMs: 300_000, ...(signal ? { signal } : {}) });
    for (const line of r.stdout.split("\n")) {
      const m = /^\\?([0-9a-f]{64}) [ *](.+)$/.exec(line);
      if (m) seen.set(m[2]!, m[1]!);
    }
  }
  const mismatched: string[] = [];
  const missing: string[] = [];
  for (const [path, sha] of expected) {
    const got = seen.get(path);
    if (got === undefined) missing.push(path);
    else if (got !== sha) mismatched.push(path);
  }
  return { verified: expected.size - mismatched.length - missing.length, mismatched, missing };
}

/** Unpack and require every file to match; the error names the files that don't. */
export async function unpackAndVerify(exec: Exec, tarball: string, dir: string, manifest: BundleManifest, signal?: AbortSignal): Promise<UnpackResult> {
  await unpackBundle(exec, tarball, dir, signal);
  const r = await checkUnpacked(exec, dir, manifest, signal);
  if (r.mismatched.length > 0 || r.missing.length > 0) {
    const list = [...r.missing.map((p) => `missing ${p}`), ...r.mismatched.map((p) => `changed ${p}`)].slice(0, 10).join(", ");
    throw new KilnError("bundle_corrupt", `the unpacked bundle in ${posix.normalize(dir)} on ${exec.where} does not match its manifest: ${list}`, { details: { ...r } });
  }
  return r;
}

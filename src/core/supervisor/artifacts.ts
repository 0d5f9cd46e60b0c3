/**
 * Verify what a step declared as artifacts (its `artifact` metric lines): the file exists and its
 * sha256 and size match what the workload wrote. Only verified artifacts get `verified_at`; the report
 * and, for clouds, teardown rely on that.
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

export interface ArtifactCheck {
  path: string;
  size: number;
  sha256: string;
  role: string | undefined;
  verified: boolean;
  problem?: string;
}

export async function checkArtifact(outputDir: string, a: { path: string; sha256: string; bytes: number; role?: string | undefined }): Promise<ArtifactCheck> {
  const abs = isAbsolute(a.path) ? a.path : join(outputDir, a.path);
  let size: number;
  try {
    size = statSync(abs).size;
  } catch {
    return { path: abs, size: a.bytes, sha256: a.sha256, role: a.role, verified: false, problem: "missing" };
  }
  const sha = await sha256File(abs);
  const ok = sha === a.sha256 && size === a.bytes;
  return { path: abs, size, sha256: sha, role: a.role, verified: ok, ...(ok ? {} : { problem: `expected sha256 ${a.sha256.slice(0, 12)}… (${a.bytes} B), found ${sha.slice(0, 12)}… (${size} B)` }) };
}

/**
 * The bundle manifest: every file's path, size, sha256 and mode. It is the first entry of the tarball
 * (`kiln-manifest.json`), so the far side can check what it unpacked without trusting the transfer, and
 * it is returned to the caller. It holds no timestamps or host names: the same tree gives the same bytes.
 */
import { z } from "zod";

export const MANIFEST_NAME = "kiln-manifest.json";

export const manifestEntrySchema = z.strictObject({
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  mode: z.number().int(),
});

export const bundleManifestSchema = z.strictObject({
  version: z.literal(1),
  /** Bundle-relative directory of each packed root, e.g. {"job": "job", "workload": "workload"}. */
  roots: z.record(z.string(), z.string()),
  files: z.array(manifestEntrySchema),
  totalBytes: z.number().int().nonnegative(),
});

export type ManifestEntry = z.infer<typeof manifestEntrySchema>;
export type BundleManifest = z.infer<typeof bundleManifestSchema>;

/** Stable JSON: keys in a fixed order, files already sorted by path. */
export function serializeManifest(m: BundleManifest): string {
  const files = m.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, mode: f.mode }));
  return `${JSON.stringify({ version: m.version, roots: m.roots, files, totalBytes: m.totalBytes }, null, 1)}\n`;
}

/** Parse a manifest read back from a bundle or a remote machine. */
export function parseManifest(text: string): BundleManifest {
  return bundleManifestSchema.parse(JSON.parse(text));
}

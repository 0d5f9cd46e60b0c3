export { type Bundle, type BundleOptions, createBundle, DEFAULT_IGNORE_FILES } from "./create.js";
export {
  type BundleManifest,
  bundleManifestSchema,
  MANIFEST_NAME,
  type ManifestEntry,
  parseManifest,
  serializeManifest,
} from "./manifest.js";
export { ALWAYS_SKIPPED, type SkippedPath, type WalkedFile, walkTree } from "./walk.js";
export { checkUnpacked, type UnpackResult, unpackAndVerify, unpackBundle } from "./unpack.js";

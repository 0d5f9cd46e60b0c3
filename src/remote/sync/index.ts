/** Artifact sync: manifests, verified incremental pulls, the periodic loop and the teardown guard. */
export { type Manifest, type ManifestEntry, ManifestSchema, localManifest, remoteManifest } from "./manifest.js";
export { ArtifactSync, type ArtifactSyncOptions } from "./periodic.js";
export { PULL_STATE, type PullOptions, type PullResult, pullArtifacts } from "./pull.js";
export { type LocalVerification, type TearDownCheck, assertSafeToTearDown, verifyLocal } from "./verify.js";

/** The ssh provider: run on a GPU machine the user already has, reached over SSH. */
export { SSH_INSTANCE_TYPE, type SshMachineFacts, SshProvider, type SshProviderOptions } from "./provider.js";
export { MARKER_DIR, type Marker, MarkerSchema } from "./schema.js";

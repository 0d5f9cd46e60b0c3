/** SSH transport: keys, host-key pinning, the reusable connection (an Exec), SFTP, ssh config. */
export { type MachineAccess, MACHINE_ACCESS_FILE, loadMachineAccess, saveMachineAccess } from "./access.js";
export { commandLine, tail } from "./command-line.js";
export { type BufferResult, SshConnection, type StreamOptions, sshExec } from "./connection.js";
export type { ConnectOptions, SshTarget } from "./dial.js";
export { KEY_NAME, type KeyPair, ensureKeyPair, loadUserKey, privateKeyFor } from "./keys.js";
export { type HostKey, KnownHosts, fingerprint, hostKeyChangedError, hostPortAlias } from "./known-hosts.js";
export { isRetryableConnectError } from "./retry.js";
export { type CheckedOptions, runChecked } from "./run-checked.js";
export { PART_SUFFIX, type TransferOptions, type TransferResult, downloadFile, remoteSha256, sha256File, uploadFile } from "./sftp.js";
export { hostBlock, installInclude, removeHostBlock, writeHostBlock } from "./ssh-config.js";

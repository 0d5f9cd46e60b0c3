/** Persistent runs on a machine (survive SSH drops), following their logs, removing their directory. */
export { REMOTE_ROOT, assertInsideRoot, removeJobDir } from "./cleanup.js";
export { type FollowOptions, LineSplitter, type LogChunk, followLog, readFrom } from "./log-follow.js";
export { type RunHandle, type RunSpec, type RunStatus, runStatus, startRun, stopRun } from "./run.js";

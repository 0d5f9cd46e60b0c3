/** The supervisor: runs a job's steps as a detached, supervised process tree. */
export { launchSupervisor, supervisorEntry } from "./launch.js";
export { isAlive, isJobProcess, signalGroup, stopGroup } from "./process.js";
export { superviseJob } from "./supervisor.js";
export { JobWatcher } from "./watch.js";

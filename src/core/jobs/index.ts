/** Jobs: submit, resume, stop, reconcile and view them — what the CLI commands call. */
export { type StopResult, isCloudJob, reconcileJobs, requireJob, resumeJob, stopJob } from "./control.js";
export { openLedger, withLedger } from "./ledger.js";
export { type SubmitOptions, type Submitted, submitJob } from "./submit.js";
export { type JobView, jobView, progressOf } from "./view.js";
export { type FollowOptions, LogTail, followLogs, followProgress } from "./follow.js";

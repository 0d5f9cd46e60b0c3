/** A job on disk: its directory layout and the supervisor's run file. */
export { type JobLayout, jobLayout, newJobId, stepLogPath } from "./layout.js";
export { type RunFile, RunFileSchema, type Step, StepSchema, readRunFile, writeRunFile } from "./run-file.js";

/** The pipeline: which processes a job runs, in order. */
export { type PythonChoice, REPO_ROOT, choosePython } from "./python.js";
export { type PipelineInput, buildPipeline } from "./steps.js";

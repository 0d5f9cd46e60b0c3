/** The job spec: schema, loader and the JSON Schema for editors. */
export { loadJobSpec, parseJobSpec } from "./load.js";
export { ALERT_EVENTS, PROVIDER_NAMES, jobSpecSchema, type JobBudget, type JobResources, type JobSpec, type JobWorkload } from "./job-spec.js";
export { SAE_DEFAULTS, type ModelShape, type SaeConfig, engineConfig } from "./sae-config.js";
export { jobSpecJsonSchema } from "./json-schema.js";

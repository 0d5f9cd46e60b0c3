/** Monitoring: read metrics.jsonl incrementally, fold it into progress, detect trouble, format it. */
export * from "./detectors.js";
export * from "./format.js";
export * from "./metrics.js";
export * from "./progress.js";
export * from "./reader.js";

// Moved to src/base/ (the layer every other layer may use). Re-exported while in-flight work migrates.
export * from "../base/logger.js";

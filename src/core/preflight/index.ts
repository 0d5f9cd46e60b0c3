/** Is this machine's GPU enough for the job? The runbook's pre-flight check as a function. */
export { MEMORY_SAVERS, type PreflightNeed, type PreflightResult, type PreflightVerdict, RISKY_FRACTION, decidePreflight } from "./decide.js";

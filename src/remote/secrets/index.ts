export { isUuid, looksLikePlaceholder, shannonEntropy } from "./entropy.js";
export { ENTROPY_MIN_LENGTH, ENTROPY_THRESHOLD } from "./rules.js";
export {
  ALLOW_PRAGMA,
  DEFAULT_SCAN_LIMITS,
  formatFinding,
  isBinary,
  maskSecret,
  type ScanLimits,
  type ScanReport,
  type ScanRoute,
  type SecretFinding,
  SecretsFoundError,
  scanBuffer,
  scanFile,
  scanName,
  scanText,
  type Unscanned,
} from "./scanner.js";

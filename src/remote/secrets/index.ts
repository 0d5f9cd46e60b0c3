export { isUuid, looksLikePlaceholder, shannonEntropy } from "./entropy.js";
export { ENTROPY_MIN_LENGTH, ENTROPY_THRESHOLD } from "./rules.js";
export {
  ALLOW_PRAGMA,
  formatFinding,
  isBinary,
  maskSecret,
  type SecretFinding,
  SecretsFoundError,
  scanBuffer,
  scanName,
  scanText,
} from "./scanner.js";

/**
 * What a secret looks like. Three kinds of rule:
 *
 * - {@link LINE_RULES}: a regex applied to each line; `secret` picks the credential out of the match
 *   (for the masked preview and the look-alike filters).
 * - {@link NAME_RULES}: the file's name alone is enough (`.env`, `id_rsa`, `*.p12`), checked even for
 *   binary files, because an SSH key in a bundle is a leak whatever it contains.
 * - {@link FILE_RULES}: need more than one line (a GCP service-account JSON has `"type"` and
 *   `"private_key"` on different lines).
 *
 * Shapes come from the providers' own docs where they publish one (AWS, GitHub, Hugging Face, Slack,
 * Azure, OpenAI, Stripe) and from the keys Kiln's own providers issue (Lambda `secret_…`, RunPod `rpa_…`).
 */
import { basename } from "node:path";
import { isUuid, looksLikePlaceholder, shannonEntropy } from "./entropy.js";

export interface LineRule {
  id: string;
  description: string;
  pattern: RegExp;
  /** Index of the capture group holding the credential; 0 means the whole match. */
  group?: number;
  /** Extra test on the credential, for shapes a regex alone can't pin down. */
  accept?: (secret: string, line: string, nextLine: string) => boolean;
  /**
   * A cheap test that must match wherever {@link pattern} can: run once on the whole file and then on
   * each line, so the full regex only sees lines that might hold a secret (bundling is I/O-bound again).
   */
  quick: RegExp;
  /** Preview when the captured text is not itself secret (a PEM header); default: masked secret. */
  preview?: (secret: string) => string;
}

/** Bits/char above which a value assigned to a `*_KEY`-like name is treated as a secret. */
export const ENTROPY_THRESHOLD = 3.5;
/** Shorter values are too short to be a credential worth flagging (or too short to judge). */
export const ENTROPY_MIN_LENGTH = 16;

const notPlaceholder = (s: string) => !looksLikePlaceholder(s);

export const LINE_RULES: readonly LineRule[] = [
  {
    id: "private-key",
    quick: /PRIVATE KEY/,
    description: "PEM/OpenSSH private key block",
    // The header alone appears in docs and in code that parses keys; require key material after it.
    pattern: /-----BEGIN ((?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----/,
    group: 1,
    preview: (kind) => `-----BEGIN ${kind}-----****…`,
    accept: (_s, line, next) => {
      const after = line.slice(line.indexOf("KEY-----") + 8);
      const material = /^(?:\\n|\s)*(?:Proc-Type:|[A-Za-z0-9+/=]{20,})/;
      return material.test(after) || (after.trim() === "" && material.test(next));
    },
  },
  {
    id: "lambda-api-key",
    quick: /secret_/,
    description: "Lambda Cloud API key",
    pattern: /\b(secret_[A-Za-z0-9-]{1,64}_[0-9a-f]{32}(?:\.[A-Za-z0-9]{16,})?)\b/,
    group: 1,
    accept: notPlaceholder,
  },
  {
    id: "lambda-api-key",
    quick: /secret_/,
    description: "Lambda Cloud API key (other shapes)",
    // The published shape isn't pinned down; any long, digit-rich `secret_…` token is treated as one.
    pattern: /\b(secret_[A-Za-z0-9_.-]{32,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && (s.match(/[0-9]/g)?.length ?? 0) >= 6 && shannonEntropy(s) >= 4,
  },
  {
    id: "lambda-api-key",
    quick: /lambda_/,
    description: "Lambda Cloud API key (legacy shape)",
    pattern: /\b(lambda_[A-Za-z0-9]{24,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && /[0-9]/.test(s) && shannonEntropy(s) >= ENTROPY_THRESHOLD,
  },
  {
    id: "runpod-api-key",
    quick: /rpa_/,
    description: "RunPod API key",
    pattern: /\b(rpa_[A-Za-z0-9]{32,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && shannonEntropy(s) >= ENTROPY_THRESHOLD,
  },
  {
    id: "aws-access-key-id",
    quick: /AKIA|ASIA|ABIA|ACCA/,
    description: "AWS access key id",
    pattern: /\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b/,
    group: 1,
    // AWS's docs use AKIAIOSFODNN7EXAMPLE everywhere.
    accept: (s) => !s.endsWith("EXAMPLE") && new Set(s.slice(4)).size > 4,
  },
  {
    id: "aws-secret-access-key",
    quick: /secret_?access_?key/i,
    description: "AWS secret access key",
    pattern: /aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/i,
    group: 1,
    accept: (s) => notPlaceholder(s) && shannonEntropy(s) >= ENTROPY_THRESHOLD,
  },
  {
    id: "azure-storage-key",
    quick: /AccountKey=/,
    description: "Azure storage connection string / account key",
    pattern: /AccountKey=([A-Za-z0-9+/]{40,}={0,2})/,
    group: 1,
    accept: notPlaceholder,
  },
  {
    id: "azure-client-secret",
    quick: /Q~/,
    description: "Azure AD client secret",
    // Entra ID secrets since 2021: three chars, a digit, "Q~", then 31-34 more.
    pattern: /(?<![A-Za-z0-9_~.-])([A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])/,
    group: 1,
    accept: notPlaceholder,
  },
  {
    id: "huggingface-token",
    quick: /hf_/,
    description: "Hugging Face access token",
    pattern: /\b(hf_[A-Za-z0-9]{30,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && shannonEntropy(s) >= ENTROPY_THRESHOLD,
  },
  {
    id: "wandb-api-key",
    quick: /WANDB_API_KEY|password/i,
    description: "Weights & Biases API key",
    pattern: /(?:WANDB_API_KEY["']?\s*[:=]\s*["']?|\bpassword\s+)([0-9a-f]{40})\b/i,
    group: 1,
    accept: (_s, line) => !/^\s*#/.test(line) || /WANDB_API_KEY/.test(line),
  },
  {
    id: "slack-webhook",
    quick: /hooks\.slack\.com/,
    description: "Slack webhook URL",
    pattern: /(https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/T[A-Za-z0-9]+\/[A-Za-z0-9]+\/[A-Za-z0-9]{16,})/,
    group: 1,
    // Slack's docs use T00000000/B00000000/XXXXXXXX…: the last segment has no information.
    accept: (s) => notPlaceholder(s.split("/").pop() ?? "") && !/\/T0+\//.test(s),
  },
  {
    id: "github-token",
    quick: /gh[pousr]_|github_pat_/,
    description: "GitHub token",
    pattern: /\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && shannonEntropy(s) >= ENTROPY_THRESHOLD,
  },
  {
    id: "openai-api-key",
    quick: /T3BlbkFJ/,
    description: "OpenAI API key",
    // Every OpenAI key shape (legacy sk-…, sk-proj-…, sk-svcacct-…) embeds "T3BlbkFJ", base64 of "openai".
    pattern: /\b(sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,})(?![A-Za-z0-9_-])/,
    group: 1,
    accept: notPlaceholder,
  },
  {
    id: "stripe-api-key",
    quick: /[sr]k_(?:live|test)_/,
    description: "Stripe secret or restricted key",
    pattern: /\b((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && shannonEntropy(s) >= ENTROPY_THRESHOLD,
  },
  {
    id: "slack-token",
    quick: /xox[abeoprs]-|xapp-/,
    description: "Slack bot, user or app token",
    pattern: /\b(xox[abeoprs]-[0-9]{6,}-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Z0-9]+-[0-9]+-[a-z0-9]{16,})\b/,
    group: 1,
    accept: (s) => notPlaceholder(s) && shannonEntropy(s) >= 3,
  },
  {
    id: "high-entropy-assignment",
    quick: /key|token|secret|passw|pwd/i,
    description: "random-looking value assigned to a *_KEY/*_TOKEN/*_SECRET/*PASSWORD* name",
    // NAME = "value" | NAME: value | "NAME": "value" | --name=value. The value is a literal: a quoted
    // string or a bare token of credential characters (a call like get_password() is not). A name
    // right after ":" is part of an identifier (lrn:cloud:api_key:…), not an assignment.
    pattern:
      /(?<![A-Za-z0-9_:])([A-Za-z0-9_.-]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD)[A-Za-z0-9_]*)["']?\s*(?::=|=|:)\s*(?:"([^"\s]+)"|'([^'\s]+)'|([A-Za-z0-9+/=_.~-]+)(?![A-Za-z0-9+/=_.~([-]))/i,
  },
];

/** The value captured by the high-entropy rule, or undefined when the assignment is not a secret. */
export function highEntropyValue(m: RegExpExecArray): string | undefined {
  const name = m[1] ?? "";
  const value = m[2] ?? m[3] ?? m[4];
  if (value === undefined) return undefined;
  // `*_KEY` must be a real suffix word: "monkey" and "turkey" are not keys, "api_key"/"apiKey" are.
  if (!/(^|[_.-])(key|token|secret)s?$|password|passwd|pwd|[a-z](Key|Token|Secret)$/i.test(name)) return undefined;
  if (/^(max|min|num|n)_?tokens?$|_tokens$|token_?(count|len|length|limit|ids?|type)s?$/i.test(name)) return undefined;
  if (value.length < ENTROPY_MIN_LENGTH) return undefined;
  if (looksLikePlaceholder(value) || isUuid(value)) return undefined;
  // Paths, URLs without credentials and dotted identifiers are configuration, not secrets.
  if (/^[./~]|:\/\//.test(value) || /^[a-z_]+(\.[a-z_]+)+$/i.test(value)) return undefined;
  if (/^[a-z0-9_.-]+(\/[a-z0-9_.-]+)+$/.test(value)) return undefined;
  if (shannonEntropy(value) < ENTROPY_THRESHOLD) return undefined;
  // Real credentials mix character classes; a long lower-case word list does not.
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(value)).length;
  return classes >= 2 ? value : undefined;
}

export interface NameRule {
  id: string;
  description: string;
  matches(path: string): boolean;
}

const ENV_TEMPLATE = /\.(example|sample|template|dist|defaults?)$/i;

export const NAME_RULES: readonly NameRule[] = [
  {
    id: "private-key-file",
    description: "SSH/TLS private key file",
    matches: (p) => {
      const b = basename(p);
      if (b.endsWith(".pub")) return false;
      return /^id_(rsa|dsa|ecdsa|ed25519)(_[A-Za-z0-9_-]+)?$/.test(b) || /\.(p12|pfx|ppk|jks|keystore)$/i.test(b);
    },
  },
];

/** `.env`, `.env.local`, `prod.env`: checked for assignments, since any value there may be a secret. */
export function isDotenvFile(path: string): boolean {
  const b = basename(path);
  if (ENV_TEMPLATE.test(b)) return false;
  return b === ".env" || b.startsWith(".env.") || b.endsWith(".env");
}

/** A `NAME=value` line with a non-empty value, as dotenv files write them. */
export const DOTENV_ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S.*)$/;

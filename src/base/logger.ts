/**
 * The one logger. Library code receives a {@link Logger} (default {@link nullLogger}) and never calls
 * `console.*`, `process.stdout` or `process.exit`; the CLI builds a real logger with {@link createLogger}.
 *
 * Level comes from `KILN_LOG` (debug|info|warn|error|silent, default info). Every line, at every level,
 * also goes to the debug log file when one is given (`$KILN_HOME/logs/kiln-debug.log`), with secrets
 * redacted by {@link redact}.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose lines are prefixed with `[name]`, sharing sinks and level. */
  child(name: string): Logger;
}

export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};

// Values that must never reach a log: bearer tokens, provider keys, private keys, webhook URLs.
const SECRET_PATTERNS: RegExp[] = [
  /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi,
  /\b(secret_[A-Za-z0-9_]{6,}|lambda_[A-Za-z0-9_]{10,}|rpa_[A-Za-z0-9]{10,}|hf_[A-Za-z0-9]{10,}|AKIA[0-9A-Z]{16})\b/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g,
];

/** Replace anything that looks like a credential with `*****`. Extra literal secrets may be given. */
export function redact(text: string, extra: readonly string[] = []): string {
  let out = text;
  for (const re of SECRET_PATTERNS) {
    out = out.replace(re, (_m, prefix: unknown) => (typeof prefix === "string" && /^Bearer/i.test(prefix) ? `${prefix}*****` : "*****"));
  }
  for (const s of extra) if (s.length >= 6) out = out.split(s).join("*****");
  return out;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where info/warn/error lines go (the CLI passes stderr). */
  sink?: (line: string) => void;
  /** Debug log file; receives every line regardless of level. */
  file?: string;
  /** Literal secrets to scrub in addition to the built-in patterns. */
  secrets?: readonly string[];
}

export function levelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const v = (env["KILN_LOG"] ?? "info").toLowerCase();
  return v in ORDER ? (v as LogLevel) : "info";
}

export function createLogger(opts: LoggerOptions = {}, name?: string): Logger {
  const level = opts.level ?? "info";
  let fileReady = false;
  const write = (lvl: Exclude<LogLevel, "silent">, msg: string, fields?: Record<string, unknown>) => {
    const prefix = name ? `[${name}] ` : "";
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
    const text = redact(`${prefix}${msg}${extra}`, opts.secrets);
    if (opts.file) {
      try {
        if (!fileReady) {
          mkdirSync(dirname(opts.file), { recursive: true });
          fileReady = true;
        }
        appendFileSync(opts.file, `${new Date().toISOString()} ${lvl.toUpperCase()} ${text}\n`);
      } catch {
        // The debug log is best-effort: a full disk must not take the job down with it.
      }
    }
    if (ORDER[lvl] >= ORDER[level] && opts.sink) opts.sink(lvl === "info" ? text : `${lvl}: ${text}`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (child) => createLogger(opts, name ? `${name}:${child}` : child),
  };
}

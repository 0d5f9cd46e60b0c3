/**
 * Turning an argv (plus cwd and env) into the one string SSH's exec channel carries. Every value is
 * quoted with shellQuote; env names are validated, never quoted into shape. The far side runs it with
 * the login shell (`$SHELL -c`), which is POSIX sh or bash on every machine Kiln targets.
 */
import { shellJoin, shellQuote } from "../exec.js";

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function commandLine(argv: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): string {
  if (argv.length === 0) throw new TypeError("commandLine: empty argv");
  const parts: string[] = [];
  if (opts.cwd !== undefined) parts.push(`cd ${shellQuote(opts.cwd)} &&`);
  const env = Object.entries(opts.env ?? {});
  if (env.length > 0) {
    for (const [k] of env) if (!ENV_NAME.test(k)) throw new TypeError(`invalid environment variable name: ${JSON.stringify(k)}`);
    parts.push("env", ...env.map(([k, v]) => shellQuote(`${k}=${v}`)));
  }
  parts.push(shellJoin(argv));
  return parts.join(" ");
}

/** The last `maxLines` lines (and at most `maxChars` characters) of a command's output, for errors. */
export function tail(text: string, maxLines = 40, maxChars = 4000): string {
  const lines = text.replace(/\n$/, "").split("\n");
  const t = lines.slice(-maxLines).join("\n");
  return t.length > maxChars ? t.slice(-maxChars) : t;
}

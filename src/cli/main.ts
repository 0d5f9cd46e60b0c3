/**
 * Kiln's entry point: parse argv, find the command, run it, and be the one place that turns errors
 * into output and exit codes (UserError → its message and hint; KilnError → code and message;
 * anything else → a bug report pointer). Tests call {@link main} in-process with a captured Io.
 */
import { parseArgs } from "node:util";
import { KilnError, UserError, errorMessage } from "../base/errors.js";
import { kilnPaths } from "../core/home.js";
import { createLogger, levelFromEnv } from "../base/logger.js";
import { whileRunning } from "../base/stall.js";
// No imports of its own: cheap at start-up.
import { ProviderError, type ProviderErrorKind } from "../providers/provider.js";
import type { Command, ParsedArgs } from "./command.js";
import { commands } from "./commands/index.js";
import { type Io, processIo } from "./io.js";

export const VERSION = "0.1.0";

export interface MainOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
}

function usageOf(c: Command): string {
  const lines = [`Usage: kiln ${c.name}${c.positionals ? ` ${c.positionals}` : ""}${c.options ? " [options]" : ""}`, "", c.summary];
  if (c.details) lines.push("", c.details);
  if (c.options && Object.keys(c.options).length > 0) {
    lines.push("", "Options:");
    for (const [name, o] of Object.entries(c.options)) {
      const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.placeholder ?? "VALUE"}` : ""}`;
      lines.push(`  ${flag.padEnd(28)} ${o.description}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function helpText(): string {
  const width = Math.max(8, ...commands.map((c) => c.name.length)) + 2;
  const rows = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
  return [
    `kiln ${VERSION} — train a sparse autoencoder and a PII probe on the cheapest GPU that fits, safely.`,
    "",
    "Usage: kiln <command> [options]",
    "",
    "Commands:",
    ...rows,
    "",
    "Run `kiln <command> --help` for a command's options. KILN_HOME (default ~/.kiln) holds the ledger and jobs.",
    "",
  ].join("\n");
}

export async function main(argv: string[], io: Io = processIo, opts: MainOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const paths = kilnPaths(env);
  const logger = createLogger({ level: levelFromEnv(env), sink: (l) => io.err(`${l}\n`), file: paths.debugLog });
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(helpText());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    io.out(`${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  try {
    if (!command) throw new UserError(`unknown command "${name}"`, { exitCode: 2, hint: "run `kiln --help` to list the commands" });
    if (rest.includes("--help") || rest.includes("-h")) {
      io.out(usageOf(command));
      return 0;
    }
    let parsed: ParsedArgs;
    try {
      const r = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: true, strict: true });
      parsed = { positionals: r.positionals, values: r.values as ParsedArgs["values"] };
    } catch (e) {
      throw new UserError(`kiln ${name}: ${errorMessage(e)}`, { exitCode: 2, hint: `run \`kiln ${name} --help\``, cause: e });
    }
    const signal = opts.signal ?? new AbortController().signal;
    return await command.handler({ io, logger, paths, env, cwd: opts.cwd ?? process.cwd(), signal }, parsed);
  } catch (e) {
    return reportError(e, io, logger, paths.debugLog);
  }
}

function reportError(e: unknown, io: Io, logger: ReturnType<typeof createLogger>, debugLog: string): number {
  logger.debug("command failed", { error: errorMessage(e), stack: e instanceof Error ? e.stack : undefined });
  if (e instanceof UserError) {
    io.err(`error: ${e.message}\n`);
    if (e.hint) io.err(`  → ${e.hint}\n`);
    return e.exitCode;
  }
  if (e instanceof ProviderError) {
    // The provider said no (bad key, unsafe credentials file, quota, capacity, a refused request, an
    // outage): the user's next step, never "a bug in Kiln". The stack is in the debug log.
    io.err(`error: ${e.provider}: ${e.message}\n`);
    io.err(`  → ${e.suggestion ?? NEXT_STEP[e.kind]}\n`);
    return e.kind === "auth" || e.kind === "invalid" ? 2 : 1;
  }
  if (e instanceof KilnError) {
    io.err(`error [${e.code}]: ${e.message}\n`);
    io.err(`  (details in ${debugLog})\n`);
    return 1;
  }
  io.err(`internal error: ${errorMessage(e)}\n  This is a bug in Kiln; please report it with ${debugLog}\n`);
  return 1;
}

/** What to do next when the provider sent no advice of its own, by class of failure. */
const NEXT_STEP: Record<ProviderErrorKind, string> = {
  auth: "check the provider's credentials (`kiln check` says which and how to fix them)",
  quota: "ask the provider to raise the account's limit, or allow another provider in resources.providers",
  billing: "the provider's account can't pay: add credit or a payment method in its console, or allow another provider in resources.providers",
  capacity: "`kiln offers` shows where capacity exists now; try again later or allow more GPUs or regions",
  "rate-limited": "the provider is rate limiting this account; wait a minute and run the command again",
  transient: "the provider is failing for now; run the command again in a few minutes (`kiln status --refresh` shows what is running)",
  invalid: "the provider refused the request; check the job spec and `kiln check`, and report it if the spec is right",
  fatal: "run the command again; if it keeps failing, the provider's status page or support can say why",
};

/** Process entry: wire signals, run, exit with the code. */
export function run(): void {
  // The AWS SDK warns on every load that its releases after January 2027 need Node 22; the lock pins this
  // one, which supports Node 20, so the warning would only be noise on stderr.
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort(new Error(`received ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  whileRunning(() => main(process.argv.slice(2), processIo, { signal: ac.signal })).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`internal error: ${errorMessage(e)}\n`);
      process.exitCode = 1;
    },
  );
}

if (import.meta.url === `file://${process.argv[1]}`) run();

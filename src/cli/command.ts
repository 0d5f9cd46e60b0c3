/**
 * Commands are data: a name, a one-line summary, typed options, positionals and a handler that gets
 * everything it needs (io, logger, paths, env, abort signal) from its {@link CommandContext}, never from
 * globals. Options are parsed with node:util parseArgs in strict mode, so an unknown flag is a UserError.
 */
import type { KilnPaths } from "../core/home.js";
import type { Logger } from "../base/logger.js";
import type { Io } from "./io.js";

export type OptionSpec =
  | { type: "boolean"; short?: string; description: string }
  | { type: "string"; short?: string; description: string; placeholder?: string; multiple?: boolean };

export interface CommandContext {
  io: Io;
  logger: Logger;
  paths: KilnPaths;
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

export interface Command {
  name: string;
  summary: string;
  /** e.g. "JOB.yaml" or "[JOB]"; shown in usage. */
  positionals?: string;
  options?: Record<string, OptionSpec>;
  /** Longer text shown by `kiln <name> --help`. */
  details?: string;
  handler(ctx: CommandContext, args: ParsedArgs): Promise<number>;
}

export const defineCommand = (c: Command): Command => c;

/**
 * `kiln emulate lambda [--port N] [--config FILE]`: run the Lambda API emulator in the foreground
 * until Ctrl-C, so users can rehearse Kiln's cloud path without an account (and so can other tools).
 * The config file (JSON or YAML) sets instance types, prices, capacity, quota, timings and faults;
 * Lambda's real rate limits are on unless the file says `rateLimit: false`.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { UserError, errorMessage } from "../../base/errors.js";
import type { LambdaEmulatorOptions } from "../../providers/lambda/emulator.js";
import { defineCommand } from "../command.js";

async function readConfig(path: string): Promise<LambdaEmulatorOptions> {
  const { parse: parseYaml } = await import("yaml");
  const { emulatorConfigSchema } = await import("../../providers/lambda/emulator.js");
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(path, "utf8")) as unknown; // YAML is a superset of JSON
  } catch (e) {
    throw new UserError(`cannot read emulator config ${path}: ${errorMessage(e)}`, { exitCode: 2, cause: e });
  }
  const r = emulatorConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `  ${i.path.join(".") || "(top)"}: ${i.message}`).join("\n");
    throw new UserError(`emulator config ${path} is invalid:\n${problems}`, { exitCode: 2, hint: "see `kiln emulate --help` for the fields" });
  }
  return r.data;
}

export const emulateCommand = defineCommand({
  name: "emulate",
  summary: "Run a cloud API emulator locally (today: lambda) to rehearse without an account",
  positionals: "lambda",
  options: {
    port: { type: "string", description: "Port to listen on (default: a free one)", placeholder: "N" },
    host: { type: "string", description: "Address to bind (default 127.0.0.1)", placeholder: "ADDR" },
    config: { type: "string", description: "JSON/YAML: apiKeys, instanceTypes, quota, bootDelayMs, terminateDelayMs, rateLimit, faults, seed", placeholder: "FILE" },
  },
  async handler(ctx, args) {
    const [which, ...extra] = args.positionals;
    if (which !== "lambda" || extra.length > 0) throw new UserError(`kiln emulate: unknown provider "${args.positionals.join(" ")}"`, { exitCode: 2, hint: "run `kiln emulate lambda`" });
    const portText = typeof args.values["port"] === "string" ? args.values["port"] : "0";
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port: expected a port number, got "${portText}"`, { exitCode: 2 });
    const configPath = typeof args.values["config"] === "string" ? resolve(ctx.cwd, args.values["config"]) : undefined;
    const config = configPath ? await readConfig(configPath) : {};
    const host = typeof args.values["host"] === "string" ? args.values["host"] : "127.0.0.1";
    // Loaded on use (the emulator, its zod schemas and yaml): the command table is imported by every `kiln` invocation.
    const { LAMBDA_RATE_LIMIT, startLambdaEmulator } = await import("../../providers/lambda/emulator.js");
    const emu = await startLambdaEmulator({ rateLimit: { ...LAMBDA_RATE_LIMIT }, ...config, host, port }).catch((e: unknown) => {
      throw new UserError(`cannot listen on ${host}:${port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
    });
    ctx.io.out(`Lambda emulator listening on ${emu.url}\n`);
    ctx.io.out(`  try: KILN_LAMBDA_API_URL=${emu.url} LAMBDA_API_KEY=${emu.apiKey} kiln check\n`);
    ctx.io.out("  Ctrl-C stops it.\n");
    await new Promise<void>((done) => {
      if (ctx.signal.aborted) return done();
      ctx.signal.addEventListener("abort", () => done(), { once: true });
    });
    await emu.close();
    const live = emu.inspect().filter((i) => i.status !== "terminated");
    ctx.io.out(`Lambda emulator stopped (${emu.inspect().length} instances launched, ${live.length} not terminated)\n`);
    return 0;
  },
});

/**
 * `kiln emulate NAME [--port N] [--config FILE]`: run a cloud's API emulator in the foreground until
 * Ctrl-C, so users can rehearse Kiln's cloud path without an account (and so can other tools). The config
 * file (JSON or YAML) sets what the provider's emulator allows (Lambda: instance types, prices, capacity,
 * quota, timings and faults; its real rate limits are on unless the file says `rateLimit: false`).
 */
import { resolve } from "node:path";
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

export const emulateCommand = defineCommand({
  name: "emulate",
  summary: "Run a cloud API emulator locally (kiln emulate lambda) to rehearse without an account",
  positionals: "NAME",
  options: {
    port: { type: "string", description: "Port to listen on (default: a free one)", placeholder: "N" },
    host: { type: "string", description: "Address to bind (default 127.0.0.1)", placeholder: "ADDR" },
    config: { type: "string", description: "JSON/YAML: apiKeys, instanceTypes, quota, bootDelayMs, terminateDelayMs, rateLimit, faults, seed", placeholder: "FILE" },
  },
  async handler(ctx, args) {
    const { providers } = await import("../../providers/registry.js");
    const emulated = providers().filter((d) => d.emulate !== undefined);
    const [which, ...extra] = args.positionals;
    const d = emulated.find((x) => x.name === which);
    if (!d?.emulate || extra.length > 0) throw new UserError(`kiln emulate: no emulator for "${args.positionals.join(" ")}"`, { exitCode: 2, hint: `emulators: ${emulated.map((x) => `kiln emulate ${x.name}`).join(", ")}` });
    const portText = typeof args.values["port"] === "string" ? args.values["port"] : "0";
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port: expected a port number, got "${portText}"`, { exitCode: 2 });
    const configPath = typeof args.values["config"] === "string" ? resolve(ctx.cwd, args.values["config"]) : undefined;
    const host = typeof args.values["host"] === "string" ? args.values["host"] : "127.0.0.1";
    const emu = await d.emulate({ host, port, ...(configPath !== undefined && { configPath }) });
    ctx.io.out(`${d.title} emulator listening on ${emu.url}\n`);
    ctx.io.out(`  try: ${Object.entries(emu.env).map(([k, v]) => `${k}=${v}`).join(" ")} kiln check\n`);
    ctx.io.out("  Ctrl-C stops it.\n");
    await new Promise<void>((done) => {
      if (ctx.signal.aborted) return done();
      ctx.signal.addEventListener("abort", () => done(), { once: true });
    });
    const end = await emu.close();
    ctx.io.out(`${d.title} emulator stopped (${end.launched} instances launched, ${end.live} not terminated)\n`);
    return 0;
  },
});

/**
 * `kiln gc [--dry-run] [--all-installations [--confirm CODE]]`: reconcile with the providers, then
 * terminate this installation's Kiln-tagged machines that no job owns.
 *
 * Machines of other installations sharing the account (another computer's or another KILN_HOME's Kiln)
 * are only listed: they may be running someone's job right now. `--all-installations` shows them with a
 * confirmation code made from exactly those machine ids; only `--all-installations --confirm CODE`
 * terminates them, so a changed set of machines needs a new look and a new code.
 */
import { createHash } from "node:crypto";
import { UserError } from "../../base/errors.js";
import type { MachineRecord, Provider } from "../../providers/provider.js";
import { defineCommand } from "../command.js";

export const confirmationCode = (machines: readonly MachineRecord[]): string =>
  createHash("sha256")
    .update(machines.map((m) => `${m.provider}:${m.id}`).sort().join("\n"))
    .digest("hex")
    .slice(0, 8);

const line = (m: MachineRecord) => `${m.name} (${m.id}) ${m.instanceType} in ${m.region}, ${m.providerState}, $${m.pricePerHour.toFixed(2)}/h`;

export const gcCommand = defineCommand({
  name: "gc",
  summary: "Find and terminate orphaned cloud machines carrying Kiln's tag (never anything else)",
  options: {
    "dry-run": { type: "boolean", description: "Say what would be done; change nothing (neither machines nor the ledger)" },
    "all-installations": { type: "boolean", description: "Also list Kiln machines of other installations sharing the account" },
    confirm: { type: "string", description: "With --all-installations: the code it printed, to terminate those machines too" },
  },
  details: "Only machines named kiln-<installation>-<intent> are considered, and only this installation's are terminated without --all-installations --confirm; machines without Kiln's tag are never touched.",
  async handler(ctx, args) {
    const dryRun = args.values["dry-run"] === true;
    const all = args.values["all-installations"] === true;
    const code = args.values["confirm"] as string | undefined;
    if (code !== undefined && !all) throw new UserError("--confirm goes with --all-installations", { exitCode: 2, hint: "kiln gc --all-installations lists the machines and prints the code" });
    const { openLedger } = await import("../../core/jobs/ledger.js");
    const { describeReport, reconcileClouds, sweepUntracked, terminateSettings } = await import("../../core/reconcile/index.js");
    const { providerNamed, rentableClouds } = await import("../../providers/registry.js");
    const pctx = { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger };
    const clouds = new Map<string, Provider>();
    for (const d of rentableClouds()) {
      const c = d.hasCredentials?.(pctx) === false ? undefined : await d.configured?.(pctx);
      if (c) clouds.set(d.name, c.provider);
    }
    if (clouds.size === 0) throw new UserError("kiln gc: no cloud is configured, so there is nothing to sweep", { exitCode: 2, hint: "`kiln check` says how to configure each cloud" });
    const sweep = async (machines: readonly MachineRecord[]) => {
      const out = { terminated: [] as string[], failed: [] as string[] };
      for (const [name, provider] of clouds) {
        const consoleUrl = providerNamed(name).consoleUrl;
        const s = await sweepUntracked({ ledger, provider, signal: ctx.signal, logger: ctx.logger, terminate: terminateSettings(ctx.env), ...(consoleUrl && { consoleUrl }) }, machines.filter((m) => m.provider === name));
        out.terminated.push(...s.terminated);
        out.failed.push(...s.failed);
      }
      return out;
    };
    const ledger = openLedger(ctx.paths);
    try {
      const r = await reconcileClouds({ ledger, paths: ctx.paths, env: ctx.env, logger: ctx.logger, signal: ctx.signal, mode: dryRun ? "report" : "act", holder: "kiln gc" }, { everyCloud: true });
      const { notes, warnings } = describeReport(r);
      for (const n of notes) ctx.io.out(`${n}\n`);
      for (const w of warnings) ctx.io.err(`${dryRun ? "" : "warning: "}${dryRun ? w.replace("`kiln status --refresh` would", "would") : w}\n`);
      let failed = r.errors.length > 0 || r.kept.length > 0;
      if (r.untracked.length === 0) ctx.io.out("no orphaned Kiln machines of this installation\n");
      for (const m of r.untracked) ctx.io.out(`orphan ${line(m)}\n`);
      if (r.untracked.length > 0 && dryRun) ctx.io.out(`${r.untracked.length} orphan(s); run \`kiln gc\` without --dry-run to terminate them\n`);
      if (r.untracked.length > 0 && !dryRun) {
        const s = await sweep(r.untracked);
        ctx.io.out(`terminated ${s.terminated.length} orphan(s)${s.failed.length > 0 ? `; failed: ${s.failed.join("; ")}` : ""}\n`);
        failed ||= s.failed.length > 0;
      }
      const others = r.otherInstallations;
      if (others.length === 0) return failed ? 1 : 0;
      if (!all) {
        ctx.io.out(`${others.length} Kiln machine(s) of other installations sharing this account left alone (\`kiln gc --all-installations\` lists them)\n`);
        return failed ? 1 : 0;
      }
      for (const m of others) ctx.io.out(`other installation's ${line(m)}\n`);
      const want = confirmationCode(others);
      if (dryRun || code === undefined) {
        ctx.io.out(`these ${others.length} machine(s) may be running other people's jobs; to terminate them: kiln gc --all-installations --confirm ${want}\n`);
        return failed ? 1 : 0;
      }
      if (code !== want) throw new UserError(`--confirm ${code} does not match the machines listed now (code ${want})`, { exitCode: 2, hint: "the set of machines changed: look at the list above, then confirm with its code" });
      const s = await sweep(others);
      ctx.io.out(`terminated ${s.terminated.length} machine(s) of other installations${s.failed.length > 0 ? `; failed: ${s.failed.join("; ")}` : ""}\n`);
      return failed || s.failed.length > 0 ? 1 : 0;
    } finally {
      ledger.close();
    }
  },
});

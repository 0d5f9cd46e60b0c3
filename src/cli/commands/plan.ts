/** `kiln plan JOB.yaml`: where the job would run, how long it takes and what it costs — without launching. */
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";
import { type PriceSources, numberFlag, priceSources } from "./offers.js";

export const planCommand = defineCommand({
  name: "plan",
  summary: "Estimate a job's GPU memory, time and cost, and pick where it runs (local first)",
  positionals: "JOB.yaml",
  options: {
    json: { type: "boolean", description: "Print the plan as JSON" },
    deadline: { type: "string", description: "Seconds to wait for each provider's live prices (default 10); providers are asked in parallel", placeholder: "S" },
  },
  details:
    "Validates the job spec, probes the local GPU (when `local` is among resources.providers), prices the allowed\nclouds and prints every option considered with the chosen one marked. Refuses a job whose estimate exceeds\nbudget.max_usd. Nothing is launched.",
  async handler(ctx, args) {
    const [specPath, ...extra] = args.positionals;
    if (specPath === undefined || extra.length > 0) throw new UserError("kiln plan takes one job file", { exitCode: 2, hint: "kiln plan examples/sae-pii-local.yaml" });
    // Ask nvidia-smi first, while zod, yaml and the planner load (it can take hundreds of ms on a GPU
    // machine); both modules are light. A rejection is handled where it is awaited, or dropped unused.
    const { localExecWithEnv } = await import("../../core/gpu/local-exec.js");
    const { probeGpus } = await import("../../core/gpu/probe.js");
    const exec = localExecWithEnv(ctx.env);
    const probing = probeGpus(exec, ctx.signal);
    probing.catch(() => undefined);
    const { planJobFile, renderPlan } = await import("../../core/planner/index.js");
    const { resolve } = await import("node:path");
    // Priced on the providers' live offers where a key is configured, as `kiln run` will be.
    const { LIVE_PRICES_DEADLINE_MS, priceSourceLines } = await import("../../core/planner/live-prices.js");
    const deadlineMs = numberFlag("deadline", args.values["deadline"], LIVE_PRICES_DEADLINE_MS / 1000) * 1000;
    let sources: PriceSources | undefined;
    const live = async (s: { resources: { providers: readonly string[] } }) => {
      sources = await priceSources(ctx, s.resources.providers, deadlineMs);
      return sources.live;
    };
    // A Lambda file system as the store: looked up through the API, and Lambda's offers kept to its region.
    const { volumeStoreAdjust } = await import("./plan-volume.js");
    const adjust = volumeStoreAdjust(ctx);
    const { spec, plan, probe, warnings, prices } = await planJobFile(resolve(ctx.cwd, specPath), { exec, probe: probing, live, signal: ctx.signal, deadlineMs, adjust });
    for (const w of warnings) ctx.logger.warn(w);
    // The same checks `kiln run` makes before the meter starts (the bundle is built, scanned and thrown away).
    const { preLaunchChecks, renderChecks, requireChecksPassed } = await import("../../core/lifecycle/checks.js");
    const estimateUsd = plan.considered.find((c) => c.chosen)?.costUsd;
    const checks = await preLaunchChecks({ spec, specPath: resolve(ctx.cwd, specPath), providers: spec.resources.providers, paths: ctx.paths, env: ctx.env, logger: ctx.logger, budget: { refusal: plan.refusal, estimateUsd } });
    const failed = checks.checks.some((c) => c.status === "failed");
    if (args.values["json"] === true) {
      const listed = checks.checks.map(({ name, status, detail, error }) => ({ name, status, detail, ...(error?.hint !== undefined && { hint: error.hint }) }));
      const priced = sources && { answers: prices, notConfigured: sources.notConfigured, catalogOnly: sources.catalogOnly, unavailable: sources.unavailable, emulated: sources.emulated };
      ctx.io.out(`${JSON.stringify({ job: spec.name, ...plan, ...(priced && { prices: priced }), checks: listed }, null, 2)}\n`);
      return plan.refusal || failed ? 1 : 0;
    }
    ctx.io.out(renderPlan(spec, plan, probe));
    if (sources && (prices.length > 0 || sources.notConfigured.length + sources.catalogOnly.length + Object.keys(sources.unavailable).length > 0)) {
      const { CATALOG_DATE } = await import("../../core/catalog/index.js");
      ctx.io.out(`Prices:\n${priceSourceLines(prices, sources, { date: CATALOG_DATE, now: Date.now() }).join("\n")}\n`);
    }
    ctx.io.out(`\n${renderChecks(checks)}`);
    if (plan.refusal) {
      throw new UserError(plan.refusal, { hint: "raise budget.max_usd, train fewer tokens/epochs, or allow more providers or GPUs in resources" });
    }
    requireChecksPassed(checks);
    return 0;
  },
});

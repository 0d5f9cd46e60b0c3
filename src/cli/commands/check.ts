/**
 * `kiln check`: are the configured cloud credentials valid? Each rentable cloud in the registry is tried
 * with one read-only call, all in parallel, each under a deadline. A cloud without credentials is reported
 * as not configured (not an error: the local GPU needs none), with how to configure it; a cloud Kiln only
 * prices from its catalog is listed as such, with the catalog's age.
 */
import { UserError } from "../../base/errors.js";
import { ProviderError } from "../../providers/provider.js"; // no imports of its own: cheap at start-up
import { defineCommand } from "../command.js";

/** An unsafe or malformed credentials file (a ProviderError) as the UserError that says how to fix it. */
export function credentialsError(e: unknown): unknown {
  return e instanceof ProviderError ? new UserError(e.message, { cause: e, ...(e.suggestion !== undefined && { hint: e.suggestion }) }) : e;
}

/** How long `kiln check` waits for one cloud's answer; clouds are asked in parallel. */
const CHECK_DEADLINE_MS = 15_000;

export const checkCommand = defineCommand({
  name: "check",
  summary: "Check the cloud credentials Kiln has (each rentable cloud: its env vars or the credentials file)",
  details:
    "Every rentable cloud is asked at once, each under a deadline (--deadline), so a slow one is reported without holding up the rest.\nA cloud's API URL variable (e.g. KILN_LAMBDA_API_URL) points Kiln at an emulator (`kiln emulate NAME`). Clouds Kiln prices from its\ndated catalog only are listed with the catalog's age.",
  options: {
    deadline: { type: "string", description: "Seconds to wait for each cloud (default 15)", placeholder: "S" },
  },
  async handler(ctx, args) {
    const { providers } = await import("../../providers/registry.js");
    const { howToConfigure } = await import("../../core/lifecycle/providers.js");
    const { numberFlag } = await import("./offers.js");
    const { CATALOG_DATE } = await import("../../core/catalog/index.js");
    const { deadlineSignal } = await import("../../base/deadline.js");
    const deadlineMs = numberFlag("deadline", args.values["deadline"], CHECK_DEADLINE_MS / 1000) * 1000;
    const pctx = { env: ctx.env, credentialsPath: ctx.paths.credentials, logger: ctx.logger };
    const clouds = providers().filter((d) => d.kind === "cloud");
    const ask = async (d: (typeof clouds)[number]): Promise<string> => {
      if (!d.configured || !d.check) {
        const days = Math.floor((Date.now() - Date.parse(`${CATALOG_DATE}T00:00:00Z`)) / 86_400_000);
        return `catalog only: ${d.catalog.length} dated row${d.catalog.length === 1 ? "" : "s"} (${CATALOG_DATE}, ${days} days old); Kiln cannot query it yet`;
      }
      const start = Date.now();
      const signal = deadlineSignal(deadlineMs, ctx.signal);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), deadlineMs);
      });
      try {
        const checking = d.check(pctx, signal);
        checking.catch(() => undefined);
        const line = await Promise.race([checking, late]);
        if (line === "late") return `no answer within ${deadlineMs / 1000} s (the rest were not held up); try again, or raise --deadline`;
        return line === undefined ? `not configured: ${howToConfigure(d, ctx.paths.credentials)}` : `ok: ${line} (live, ${((Date.now() - start) / 1000).toFixed(2)} s)`;
      } finally {
        clearTimeout(timer);
      }
    };
    // All at once; results print in registry order. A credentials problem is the user's error, reported
    // after the other clouds' lines.
    const results = await Promise.allSettled(clouds.map(ask));
    let failure: unknown;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") ctx.io.out(`${clouds[i]!.name}  ${r.value}\n`);
      else failure ??= credentialsError(r.reason);
    });
    if (failure !== undefined) throw failure;
    return 0;
  },
});

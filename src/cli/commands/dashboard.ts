/**
 * `kiln dashboard [--port N] [--host ADDR] [--open]`: serve the live dashboard until Ctrl-C. Loopback by
 * default; another address needs --host and gets a one-time token, printed in the URL, that every request
 * must carry. The server is a library (src/dashboard); this command prints where it is, opens a browser
 * when asked, and closes it on Ctrl-C.
 */
import { spawn } from "node:child_process";
import { UserError } from "../../base/errors.js";
import { defineCommand } from "../command.js";

function portFlag(raw: unknown): number {
  if (raw === undefined) return 7480;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || n > 65535) throw new UserError(`--port: expected a port number 0-65535, got "${String(raw)}"`, { exitCode: 2 });
  return n;
}

/** Open `url` in the desktop's browser, detached; a machine without one just keeps the printed URL. */
function openBrowser(url: string): void {
  const cmd = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  const child = spawn(cmd, [url], { detached: true, stdio: "ignore" });
  child.on("error", () => undefined);
  child.unref();
}

export const dashboardCommand = defineCommand({
  name: "dashboard",
  summary: "Serve a live dashboard of jobs, attempts, machines, spend and offers (and /metrics for Prometheus)",
  options: {
    port: { type: "string", description: "Port to serve on (default 7480; 0 picks a free one)", placeholder: "N" },
    host: { type: "string", description: "Address to bind (default 127.0.0.1); any non-loopback address requires the printed token", placeholder: "ADDR" },
    open: { type: "boolean", description: "Open the dashboard in the browser" },
  },
  details: "Reads the ledger and the jobs' files; works with no job running. Stop, down and resume on a job's page each ask for confirmation and do exactly what `kiln stop`, `kiln down` and `kiln run --resume` do.",
  async handler(ctx, args) {
    const port = portFlag(args.values["port"]);
    const host = typeof args.values["host"] === "string" ? args.values["host"] : "127.0.0.1";
    const { startDashboard, isLoopback } = await import("../../dashboard/index.js");
    const { liveOfferSources } = await import("./offers.js");
    const d = await startDashboard({ paths: ctx.paths, env: ctx.env, host, port, logger: ctx.logger, liveOffers: () => liveOfferSources(ctx, undefined) });
    ctx.io.out(`Kiln dashboard: ${d.url}\n`);
    if (!isLoopback(host)) ctx.io.out("  Bound beyond loopback: every request needs this URL's token (or `Authorization: Bearer <token>`); it changes on every start.\n");
    ctx.io.out(`  Prometheus: ${d.url.replace(/\/(\?token=.*)?$/, "/metrics")}${d.token ? " (send the token as a bearer credential)" : ""}\n  Ctrl-C stops it.\n`);
    if (args.values["open"] === true) openBrowser(d.url);
    // Serves until the command is aborted (Ctrl-C): a server has no deadline of its own, only its owner's signal.
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    await d.close();
    return 0;
  },
});

/**
 * The supervisor process's entry: `node main.js JOB_DIR`. Started detached by ./launch.ts, so it has
 * its own session (no controlling terminal: closing the terminal sends it no SIGHUP) and outlives
 * `kiln`. SIGTERM/SIGINT stop the job gracefully; SIGHUP is ignored (a stray one must not kill a
 * paid run). It logs to JOB_DIR/logs/supervisor.log and sets the exit code instead of exiting, so
 * pending writes and alert deliveries finish.
 */
import { join } from "node:path";
import { errorMessage } from "../../base/errors.js";
import { createLogger, levelFromEnv } from "../../base/logger.js";
import { whileRunning } from "../../base/stall.js";
import { superviseJob } from "./supervisor.js";

async function mainSupervisor(): Promise<void> {
  const jobDir = process.argv[2];
  if (!jobDir) {
    process.exitCode = 2;
    return;
  }
  const level = levelFromEnv(process.env);
  const logger = createLogger({ level: level === "silent" ? "silent" : "debug", file: join(jobDir, "logs", "supervisor.log") }, "supervisor");
  const ac = new AbortController();
  const onStop = (sig: NodeJS.Signals) => {
    logger.info(`received ${sig}: stopping the job gracefully`);
    ac.abort(new Error(sig));
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", () => logger.info("received SIGHUP: ignored (the job keeps running)"));
  try {
    const state = await whileRunning(() => superviseJob(jobDir, { logger, signal: ac.signal, env: process.env }));
    logger.info(`job ended: ${state}`);
    process.exitCode = state === "succeeded" ? 0 : 1;
  } catch (e) {
    logger.error(`supervisor crashed: ${errorMessage(e)}`, { stack: e instanceof Error ? e.stack : undefined });
    process.exitCode = 1;
  }
}

void mainSupervisor();

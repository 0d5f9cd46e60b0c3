/**
 * The cloud driver process's entry: `node driver-main.js JOB_DIR`, started detached by ./submit.ts
 * with KILN_JOB_ID in its environment. SIGTERM/SIGINT (`kiln stop`) stop the job gracefully:
 * checkpoint, pull, verify, terminate. SIGHUP is ignored. Logs go to JOB_DIR/logs/driver.log.
 */
import { join } from "node:path";
import { errorMessage } from "../../base/errors.js";
import { createLogger, levelFromEnv } from "../../base/logger.js";
import { whileRunning } from "../../base/stall.js";
import { driveCloudJob } from "./drive.js";

async function mainDriver(): Promise<void> {
  const jobDir = process.argv[2];
  if (!jobDir) {
    process.exitCode = 2;
    return;
  }
  const level = levelFromEnv(process.env);
  const logger = createLogger({ level: level === "silent" ? "silent" : "debug", file: join(jobDir, "logs", "driver.log") }, "driver");
  const ac = new AbortController();
  const onStop = (sig: NodeJS.Signals) => {
    logger.info(`received ${sig}: stopping the cloud job gracefully`);
    ac.abort(new Error(sig));
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGHUP", () => logger.info("received SIGHUP: ignored (the job keeps running)"));
  traceExit(logger);
  try {
    // Held open until the job is driven: otherwise a wait bounded only by an AbortSignal.timeout deadline
    // could let Node exit mid-job, code 0, with the machine left to the watchdog.
    const state = await whileRunning(() => driveCloudJob(jobDir, { env: process.env, logger, signal: ac.signal, onMilestone: (name, ms) => logger.info(`milestone ${name} at ${ms} ms`) }));
    logger.info(`job ended: ${state}`);
    process.exitCode = state === "succeeded" ? 0 : 1;
  } catch (e) {
    logger.error(`driver crashed: ${errorMessage(e)}`, { stack: e instanceof Error ? e.stack : undefined });
    process.exitCode = 1;
  }
}

/**
 * The driver's stdio goes nowhere (it is detached), so whatever ends it must say so in its log, or a driver
 * that stops mid-job leaves no trace of why: an uncaught exception or an unhandled rejection (Node 20 turns
 * those into uncaught exceptions; the monitor sees both before Node ends the process, and changes nothing of
 * that), and any exit with its code. SIGKILL alone cannot be logged.
 */
function traceExit(logger: ReturnType<typeof createLogger>): void {
  process.on("uncaughtExceptionMonitor", (e: unknown, origin: string) => {
    logger.error(`driver crashed (${origin === "unhandledRejection" ? "unhandled promise rejection" : "uncaught exception"}): ${errorMessage(e)}`, { stack: e instanceof Error ? e.stack : undefined });
  });
  process.on("exit", (code) => logger.info(`driver exiting with code ${code}`));
}

void mainDriver();

/**
 * The cloud driver process's entry: `node driver-main.js JOB_DIR`, started detached by ./submit.ts
 * with KILN_JOB_ID in its environment. SIGTERM/SIGINT (`kiln stop`) stop the job gracefully:
 * checkpoint, pull, verify, terminate. SIGHUP is ignored. Logs go to JOB_DIR/logs/driver.log.
 */
import { join } from "node:path";
import { errorMessage } from "../../base/errors.js";
import { createLogger, levelFromEnv } from "../../base/logger.js";
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
  try {
    const state = await driveCloudJob(jobDir, {
      env: process.env,
      logger,
      signal: ac.signal,
      onMilestone: (name, ms) => logger.info(`milestone ${name} at ${ms} ms`),
    });
    logger.info(`job ended: ${state}`);
    process.exitCode = state === "succeeded" ? 0 : 1;
  } catch (e) {
    logger.error(`driver crashed: ${errorMessage(e)}`, { stack: e instanceof Error ? e.stack : undefined });
    process.exitCode = 1;
  }
}

void mainDriver();

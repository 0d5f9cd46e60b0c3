/** Termination pacing for reconciliation, from the environment (tests shorten it). */
import { TERMINATE_DEFAULTS } from "../lifecycle/teardown.js";

const numEnv = (env: NodeJS.ProcessEnv, name: string, fallback: number): number => Number(env[name] ?? "") || fallback;

/** How long `kiln down` keeps trying a user's host that does not answer (tests shorten it). */
export const hostConnectTimeoutMs = (env: NodeJS.ProcessEnv): number => numEnv(env, "KILN_HOST_CONNECT_TIMEOUT_MS", 60_000);

export const terminateSettings = (env: NodeJS.ProcessEnv) => ({
  pollMs: numEnv(env, "KILN_TERMINATE_POLL_MS", TERMINATE_DEFAULTS.pollMs),
  timeoutMs: numEnv(env, "KILN_TERMINATE_TIMEOUT_MS", TERMINATE_DEFAULTS.timeoutMs),
});

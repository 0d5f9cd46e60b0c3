/**
 * {@link localExec} with an explicit environment. Commands get their env from their context, not from
 * process.env, so tests (and `kiln --sim`) can put a fake nvidia-smi first on PATH in-process.
 */
import { type Exec, localExec } from "../../remote/exec.js";

export function localExecWithEnv(env: NodeJS.ProcessEnv): Exec {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return { where: "local", run: (argv, opts = {}) => localExec.run(argv, { ...opts, env: { ...clean, ...opts.env } }) };
}

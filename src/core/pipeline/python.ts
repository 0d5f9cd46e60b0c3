/**
 * Which Python runs the workload: the spec's `workload.python` (an interpreter, or a venv directory),
 * else the repository's own `.venv`, which `scripts/ensure-python.sh` creates on first use (torch first,
 * then `pip install -e workload`). The repository root is found from this module's own location
 * (src/core/pipeline or dist/core/pipeline), never from the current directory.
 */
import { existsSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { UserError } from "../../base/errors.js";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..", "..");

export interface PythonChoice {
  python: string;
  /** Set when the interpreter does not exist yet and this script creates it. */
  ensureScript?: string;
}

export function choosePython(specPython: string | undefined, baseDir: string, repoRoot: string = REPO_ROOT): PythonChoice {
  if (specPython !== undefined) {
    let p = isAbsolute(specPython) ? specPython : resolve(baseDir, specPython);
    if (existsSync(p) && statSync(p).isDirectory()) p = join(p, "bin", "python");
    if (!existsSync(p)) {
      throw new UserError(`workload.python: ${p} does not exist`, { exitCode: 2, hint: "point it at a Python interpreter or venv, or remove it to let Kiln create one" });
    }
    return { python: p };
  }
  const python = join(repoRoot, ".venv", "bin", "python");
  if (existsSync(python)) return { python };
  return { python, ensureScript: join(repoRoot, "scripts", "ensure-python.sh") };
}

// The pip retry policy with a real process standing in for `python -m pip`: a script that fails the way
// pip does (network error or resolver conflict) a given number of times, counting its calls in a file.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { KilnError } from "../../base/errors.js";
import { localExec } from "../exec.js";
import { isTransientPipFailure, pipInstall } from "./pip.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-pip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fake interpreter whose pip fails `failures` times with `message`, then succeeds. */
function flakyPython(name: string, failures: number, message: string): { python: string; calls: () => number } {
  const count = join(dir, `${name}.count`);
  writeFileSync(count, "0");
  const python = join(dir, name);
  writeFileSync(
    python,
    `#!/bin/sh\nn=$(($(cat ${count}) + 1)); echo $n > ${count}\nif [ $n -le ${failures} ]; then echo "${message}" >&2; exit 1; fi\necho "Successfully installed kiln-sae-0.1.0"\n`,
  );
  chmodSync(python, 0o755);
  return { python, calls: () => Number(readFileSync(count, "utf8")) };
}

describe("pipInstall", () => {
  it("retries network failures with backoff until it succeeds", async () => {
    const p = flakyPython("net", 2, "ReadTimeoutError: HTTPSConnectionPool(host='pypi.org', port=443): Read timed out.");
    await pipInstall(localExec, p.python, ["workload"], { attempts: 3, retryDelayMs: 10 });
    expect(p.calls()).toBe(3);
  });

  it("does not retry a resolver conflict, and the error carries pip's output", async () => {
    const p = flakyPython("conflict", 5, "ERROR: ResolutionImpossible: torch>=2.4 conflicts with torch==2.0.1");
    const err = await pipInstall(localExec, p.python, ["workload"], { attempts: 3, retryDelayMs: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect((err as KilnError).message).toContain("ResolutionImpossible");
    expect(p.calls()).toBe(1);
  });

  it("gives up after the last attempt", async () => {
    const p = flakyPython("down", 9, "Temporary failure in name resolution");
    await expect(pipInstall(localExec, p.python, ["workload"], { attempts: 2, retryDelayMs: 10 })).rejects.toThrow(/kept failing .* network errors/);
    expect(p.calls()).toBe(2);
  });

  it("classifies pip's failure texts", () => {
    expect(isTransientPipFailure("HTTP error 503 while getting https://files.pythonhosted.org/...")).toBe(true);
    expect(isTransientPipFailure("ERROR: No matching distribution found for torch>=9")).toBe(false);
  });
});

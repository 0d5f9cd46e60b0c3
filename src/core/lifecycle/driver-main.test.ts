// The detached driver's stdio goes nowhere, so its log must say why it ended: here a job directory without
// its cloud.json makes the driver fail at once; the log holds the failure and the exit with its code.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..", "..");

describe("the driver process's log", () => {
  it("records why it stopped and the code it exited with", () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-driver-main-"));
    try {
      const r = spawnSync(join(ROOT, "node_modules", ".bin", "vite-node"), [join(ROOT, "src", "core", "lifecycle", "driver-main.ts"), dir], { cwd: ROOT, encoding: "utf8", env: { ...process.env, KILN_JOB_ID: "j-missing" }, timeout: 120_000 });
      expect(r.status, r.stderr).toBe(1);
      const log = readFileSync(join(dir, "logs", "driver.log"), "utf8");
      expect(log).toMatch(/ERROR .*driver crashed: /);
      expect(log.trimEnd().split("\n").at(-1)).toMatch(/INFO .*driver exiting with code 1$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

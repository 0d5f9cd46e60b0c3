// A process whose main work waits on a promise nothing will settle: Node would exit 0 as if it had succeeded.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { STALL_EXIT_CODE } from "./stall.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const entry = (mode: string) => spawnSync(join(ROOT, "node_modules", ".bin", "vite-node"), [join(import.meta.dirname, "testing", "stall-entry.ts"), mode], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });

describe("whileRunning", () => {
  it("turns an exit with the work still pending into code 70 and says so", () => {
    const r = entry("never");
    expect(r.status).toBe(STALL_EXIT_CODE);
    expect(r.stderr).toContain("stalled");
    expect(r.stdout).not.toContain("done");
  }, 150_000);

  it("changes nothing when the work settles", () => {
    const r = entry("settles");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("done 3\n");
    expect(r.stderr).not.toContain("stalled");
  }, 150_000);
});

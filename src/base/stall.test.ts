// A process whose main work waits on an AbortSignal.timeout deadline and nothing else: without whileRunning,
// Node exits (code 0) before the deadline fires, as the cloud driver once did mid-job.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..", "..");
const entry = (mode: string) => spawnSync(join(ROOT, "node_modules", ".bin", "vite-node"), [join(import.meta.dirname, "testing", "stall-entry.ts"), mode], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });

describe("whileRunning", () => {
  it("keeps the process alive until its work's deadline fires", () => {
    const r = entry("guarded");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("the deadline fired\n");
  }, 150_000);

  it("without it, Node ends the process first (what it guards against)", () => {
    const r = entry("bare");
    expect(r.stdout).toBe("");
  }, 150_000);
});

// The shipped CLI is the compiled one, loaded by Node's own ESM loader — not vitest's, which forgives
// things Node does not (named imports from CommonJS packages such as ssh2). Run the real thing.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const MAIN = join(ROOT, "dist", "cli", "main.js");

describe("built CLI", () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", join(ROOT, "tsconfig.build.json")]);
  });

  it("loads every command module and prints help", () => {
    const r = spawnSync(process.execPath, [MAIN, "--help"], { encoding: "utf8", env: { ...process.env, KILN_HOME: join(ROOT, "node_modules", ".kiln-test-home") } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const c of ["run", "plan", "offers", "verify", "ssh", "down", "gc"]) expect(r.stdout).toContain(`  ${c} `);
  });

  // Commands load their heavy modules (ssh2, zod, yaml, SQLite, the Lambda client) inside the handler,
  // so --help alone proves little: run commands that reach each of those under Node's loader.
  it("runs commands whose handlers import ssh2, zod/yaml, SQLite and the planner", () => {
    const home = join(ROOT, "node_modules", ".kiln-test-home-run");
    const env = { ...process.env, KILN_HOME: home, LAMBDA_API_KEY: "" };
    const keys = spawnSync(process.execPath, [MAIN, "keys", "--public"], { encoding: "utf8", env });
    expect(keys.stderr).toBe("");
    expect(keys.stdout).toMatch(/^ssh-ed25519 AAAA/);
    const plan = spawnSync(process.execPath, [MAIN, "plan", join(ROOT, "examples", "sae-pii-local.yaml")], { encoding: "utf8", env: { ...env, PATH: "/nonexistent" } });
    expect(plan.status).toBe(0);
    expect(plan.stdout).toContain("cpu");
    const status = spawnSync(process.execPath, [MAIN, "status"], { encoding: "utf8", env });
    expect(status.status).toBe(0);
  });

  it("exits 2 with a hint on an unknown command", () => {
    const r = spawnSync(process.execPath, [MAIN, "launch-rockets"], { encoding: "utf8", env: { ...process.env, KILN_HOME: join(ROOT, "node_modules", ".kiln-test-home") } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "launch-rockets"');
  });
});

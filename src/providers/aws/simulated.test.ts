// `kiln run --sim --provider aws` needs moto from the repository's .venv: without it, a clear refusal
// (KilnError sim_unavailable naming what is missing and how to get it), never a stack trace or a hang.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KilnError } from "../../base/errors.js";
import { startSimulatedAws } from "./simulated.js";

describe("kiln run --sim --provider aws without moto", () => {
  it("refuses clearly when the venv is missing", async () => {
    const e = await startSimulatedAws({ python: "/nonexistent/.venv/bin/python" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KilnError);
    expect((e as KilnError).code).toBe("sim_unavailable");
    expect((e as Error).message).toBe("`--sim --provider aws` runs moto's EC2 emulator from the repository's .venv, and it cannot: no Python venv at /nonexistent/.venv/bin/python (run scripts/ensure-python.sh; moto[server] is in its lock)");
  });

  it("refuses clearly when that Python has no moto", async () => {
    // A Python without moto, as a venv made before moto joined the lock would be: it fails the import.
    const python = join(mkdtempSync(join(tmpdir(), "kiln-nomoto-")), "python");
    writeFileSync(python, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'moto'\" >&2\nexit 1\n", { mode: 0o755 });
    const e = await startSimulatedAws({ python }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KilnError);
    expect((e as Error).message).toBe(`\`--sim --provider aws\` runs moto's EC2 emulator from the repository's .venv, and it cannot: moto[server] is not installed for ${python} (ModuleNotFoundError: No module named 'moto'; run scripts/ensure-python.sh)`);
  });
});

// End to end on this machine with the fake workload (test/fixtures/workloads/fake-python): the
// supervisor is SIGKILLed mid-run, `kiln status` notices and marks the job interrupted, `kiln run
// --resume` continues from the last checkpoint, and the ledger tells the whole story. Also: SIGHUP
// does not hurt a running supervisor, and SIGTERM to it stops the job gracefully.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killJobProcesses } from "../../src/core/supervisor/testing/cleanup.js";
import { main } from "../../src/cli/main.js";
import { captureIo } from "../../src/cli/io.js";
import { pollUntil } from "../../src/base/deadline.js";
import { Ledger } from "../../src/store/index.js";
import { bundleForNode } from "../../src/store/testing/bundle.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let home: string;
let env: NodeJS.ProcessEnv;

async function kiln(argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...env, ...extra }, cwd: home });
  return { code, out: io.stdout, err: io.stderr };
}

function writeSpec(name: string): string {
  const p = join(home, `${name}.yaml`);
  writeFileSync(p, `name: ${name}\nbudget: { max_usd: 5 }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  return p;
}

const ledger = () => Ledger.open(join(env["KILN_HOME"]!, "ledger.db"));
const job = (id: string) => {
  const l = ledger();
  try {
    return l.getJob(id)!;
  } finally {
    l.close();
  }
};
const metricsOf = (id: string) => readFileSync(join(env["KILN_HOME"]!, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8");
const stepReached = (id: string, n: number) => async () => ((metricsOf(id).match(/"kind": "train"/g) ?? []).length >= n ? true : undefined);

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-e2e-"));
  env = { ...process.env, KILN_HOME: join(home, "kiln"), KILN_SUPERVISOR_ENTRY: await bundleForNode("src/core/supervisor/main.ts"), KILN_FOLLOW_INTERVAL_MS: "100", PATH: `/nonexistent:${process.env["PATH"]}` };
  writeFileSync(join(home, "data.jsonl"), '{"text": "hi"}\n');
});
afterAll(() => {
  // A failed or timed-out test must not leave detached jobs running.
  killJobProcesses(join(env["KILN_HOME"]!, "ledger.db"));
  rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe("local end to end (fake workload)", () => {
  it("survives a SIGKILLed supervisor: interrupted → resumed → succeeded, with a consistent ledger", async () => {
    const started = await kiln(["run", "--detach", writeSpec("e2e")], { FAKE_STEPS: "120", FAKE_STEP_MS: "40" });
    const id = /started e2e \((\S+)\)/.exec(started.out)![1]!;
    await pollUntil(stepReached(id, 12), { what: "12 train lines", timeoutMs: 30_000, intervalMs: 50 });
    const before = job(id);
    expect(before.state).toBe("running");
    process.kill(before.supervisor_pid!, "SIGKILL");
    await pollUntil(async () => ((await kiln(["status", id, "--json"])).out.includes('"state": "interrupted"') ? true : undefined), { what: "interrupted", timeoutMs: 10_000, intervalMs: 100 });
    expect(job(id).state).toBe("interrupted");

    // The orphaned workload is checkpointed and stopped before the new attempt starts.
    const resumed = await kiln(["run", "--resume", id, "--grace", "10"], { FAKE_STEPS: "60", FAKE_STEP_MS: "10" });
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`job e2e (${id}) succeeded`);

    const lines = metricsOf(id).trim().split("\n").map((l) => JSON.parse(l) as { kind: string; resumed?: boolean; reason?: string; step?: number });
    expect(lines.filter((l) => l.kind === "start").map((l) => l.resumed)).toEqual([false, true]);
    expect(lines.at(-1)).toMatchObject({ kind: "done", reason: "completed", step: 60 });

    const l = ledger();
    try {
      expect(l.integrityCheck()).toBe("ok");
      expect(l.listAttempts(id).map((a) => a.state)).toEqual(["interrupted", "succeeded"]);
      expect(l.listMachines(id).every((m) => m.state === "terminated" && m.terminated_at !== null)).toBe(true);
      const states = l.listEvents(id, { kind: "job_state" }).map((e) => e.to_state);
      expect(states).toEqual(["created", "running", "interrupted", "created", "running", "succeeded"]);
      expect(l.listArtifacts(id).map((a) => [a.role, a.verified_at !== null])).toEqual([["sae", true]]);
    } finally {
      l.close();
    }
    const report = (await kiln(["report", id])).out;
    expect(report).toContain("interrupted");
    expect(report).toContain("supervisor process");
  });

  it("ignores SIGHUP and stops gracefully on SIGTERM", async () => {
    const started = await kiln(["run", "--detach", writeSpec("signals")], { FAKE_STEPS: "400", FAKE_STEP_MS: "30" });
    const id = /started signals \((\S+)\)/.exec(started.out)![1]!;
    await pollUntil(stepReached(id, 3), { what: "3 train lines", timeoutMs: 30_000, intervalMs: 50 });
    const pid = job(id).supervisor_pid!;
    process.kill(pid, "SIGHUP");
    await new Promise((r) => setTimeout(r, 300));
    expect(job(id).state).toBe("running");
    process.kill(pid, "SIGTERM");
    await pollUntil(async () => (job(id).state === "stopped" ? true : undefined), { what: "stopped", timeoutMs: 20_000, intervalMs: 100 });
    expect(metricsOf(id)).toContain('"reason": "sigterm"');
  });
});

// The end-to-end test, with the real workload: examples/sae-pii-local.yaml on a small token
// budget (a temp copy of the spec), the supervisor SIGKILLed mid-run, `kiln status` marking the job
// interrupted, `kiln run --resume` stopping the orphaned engine (SIGTERM → checkpoint) and resuming
// from the newest checkpoint, then the final metrics, the verified artifact and the ledger checked.
// ~2 minutes on 2 busy cores, most of it loading MiniLM and extracting activations twice.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killJobProcesses } from "../../src/core/supervisor/testing/cleanup.js";
import { parse, stringify } from "yaml";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { pollUntil } from "../../src/base/deadline.js";
import { Ledger } from "../../src/store/index.js";
import { bundleForNode } from "../../src/store/testing/bundle.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
const TOKENS = 6144;
const BATCH = 512;
let home: string;
let env: NodeJS.ProcessEnv;

async function kiln(argv: string[]) {
  const io = captureIo();
  const code = await main(argv, io, { env, cwd: home });
  return { code, out: io.stdout, err: io.stderr };
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-e2e-sae-"));
  env = { ...process.env, KILN_HOME: join(home, "kiln"), KILN_SUPERVISOR_ENTRY: await bundleForNode("src/core/supervisor/main.ts"), KILN_FOLLOW_INTERVAL_MS: "500", HF_HUB_OFFLINE: "1" };
});
afterAll(() => {
  // A failed or timed-out test must not leave detached jobs running.
  killJobProcesses(join(env["KILN_HOME"]!, "ledger.db"));
  rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

// Skipped only where the Python environment does not exist yet (bin/test creates it with scripts/ensure-python.sh).
describe.skipIf(!existsSync(PYTHON))("local end to end with the real SAE engine", () => {
  it("trains, survives a SIGKILLed supervisor, resumes from the checkpoint, and finishes with a verified SAE", async () => {
    const spec = parse(readFileSync(join(ROOT, "examples", "sae-pii-local.yaml"), "utf8"));
    const sae = spec.workload.sae;
    Object.assign(sae, { tokens: TOKENS, batch_size: BATCH, save_every_steps: 2, log_every: 1, warmup_steps: 2, activation_cache: "disk" });
    sae.dataset = { ...sae.dataset, path: join(ROOT, "examples", sae.dataset.path), subset_size: 60 };
    // A small probe (the default generates 3000 chats and also scores Presidio): minutes on 2 cores.
    spec.workload.probe = { data: { seed: 0, train: 120, val: 40, test: 80 }, epochs: 3, systems: ["sae", "raw"] };
    const specPath = join(home, "sae-pii-local.yaml");
    writeFileSync(specPath, stringify(spec));

    const started = await kiln(["run", "--detach", specPath]);
    expect(started.err).toBe("");
    const id = /started \S+ \((\S+)\)/.exec(started.out)![1]!;
    const metrics = join(env["KILN_HOME"]!, "jobs", id, "outputs", "sae", "metrics.jsonl");
    const lines = () => (existsSync(metrics) ? readFileSync(metrics, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : []);
    await pollUntil(async () => (lines().some((l) => l["kind"] === "checkpoint_saved") ? true : undefined), { what: "the first checkpoint", timeoutMs: 150_000, intervalMs: 250 });

    const ledgerPath = join(env["KILN_HOME"]!, "ledger.db");
    const l1 = Ledger.open(ledgerPath);
    const supervisor = l1.getJob(id)!.supervisor_pid!;
    l1.close();
    process.kill(supervisor, "SIGKILL");
    const st = await pollUntil(async () => {
      const s = JSON.parse((await kiln(["status", id, "--json"])).out) as { state: string };
      return s.state === "interrupted" ? s : undefined;
    }, { what: "interrupted", timeoutMs: 10_000, intervalMs: 200 });
    expect(st.state).toBe("interrupted");

    const resumed = await kiln(["run", "--resume", id, "--grace", "60"]);
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`(${id}) succeeded`);

    const all = lines();
    const starts = all.filter((l) => l["kind"] === "start" && l["phase"] === "train");
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts.at(-1)!["resumed"]).toBe(true);
    expect((starts.at(-1)!["step"] as number) > 0).toBe(true);
    const done = all.filter((l) => l["kind"] === "done").at(-1)!;
    expect(done).toMatchObject({ phase: "train", step: TOKENS / BATCH });
    // "token_budget": the run ended because it trained the tokens it was given (the normal end here).
    expect(["completed", "token_budget"]).toContain(done["reason"]);
    const final = done["final"] as { explained_variance: number; l0: number };
    expect(final.l0).toBeGreaterThan(0);
    expect(Number.isFinite(final.explained_variance)).toBe(true);

    const l = Ledger.open(ledgerPath);
    try {
      expect(l.integrityCheck()).toBe("ok");
      expect(l.getJob(id)!.state).toBe("succeeded");
      expect(l.listAttempts(id).map((a) => a.state)).toEqual(["interrupted", "succeeded"]);
      expect(l.listMachines(id).every((m) => m.terminated_at !== null)).toBe(true);
      const arts = l.listArtifacts(id);
      expect(arts.find((a) => a.path.endsWith("sae/sae.safetensors"))?.verified_at).not.toBeNull();
    } finally {
      l.close();
    }
    const probe = readFileSync(join(env["KILN_HOME"]!, "jobs", id, "outputs", "probe", "metrics.jsonl"), "utf8");
    expect(probe).toContain('"kind":"probe_eval"');
    const report = (await kiln(["report", id])).out;
    expect(report).toMatch(/Training finished: (completed|trained its full token budget)\./);
    expect(report).toContain("| train (last log) |");
    expect(report).toMatch(/## PII detector: sae_probe/);
  }, 480_000);
});

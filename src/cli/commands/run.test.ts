// kiln run / logs / stop / status / cost / report, in-process, against a real detached supervisor
// (bundled from source) running the fake workload (test/fixtures/workloads/fake-python).
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killJobProcesses } from "../../core/supervisor/testing/cleanup.js";
import { pollUntil } from "../../base/deadline.js";
import { Ledger } from "../../store/index.js";
import { bundleForNode } from "../../store/testing/bundle.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

const FAKE = resolve(import.meta.dirname, "..", "..", "..", "test", "fixtures", "workloads", "fake-python");
let home: string;
let env: NodeJS.ProcessEnv;

const spec = (name: string, extra = "") => {
  const path = join(home, `${name}.yaml`);
  writeFileSync(
    path,
    `name: ${name}
budget:
  max_usd: 1
workload:
  type: sae-pii
  python: ${FAKE}
  sae:
    base_model: minilm
    layer: 3
    dataset: { path: data.jsonl }
    tokens: 40960
${extra}`,
  );
  return path;
};

async function kiln(argv: string[], extraEnv: NodeJS.ProcessEnv = {}, signal?: AbortSignal) {
  const io = captureIo();
  const code = await main(argv, io, { env: { ...env, ...extraEnv }, cwd: home, ...(signal ? { signal } : {}) });
  return { code, out: io.stdout, err: io.stderr };
}

const statusOf = async (id: string) => JSON.parse((await kiln(["status", id, "--json"])).out) as { state: string; costUsd: number; progress: { step?: number } };

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-run-"));
  env = {
    ...process.env,
    KILN_HOME: join(home, "kiln"),
    KILN_SUPERVISOR_ENTRY: await bundleForNode("src/core/supervisor/main.ts"),
    KILN_FOLLOW_INTERVAL_MS: "100",
    FAKE_STEP_MS: "20",
    PATH: `/nonexistent-no-nvidia:${process.env["PATH"]}`,
  };
  writeFileSync(join(home, "data.jsonl"), '{"text": "hello"}\n');
});
afterAll(() => {
  // A failed or timed-out test must not leave detached jobs running.
  killJobProcesses(join(env["KILN_HOME"]!, "ledger.db"));
  rmSync(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
});

describe("kiln run (foreground) → status, cost, logs, report", () => {
  let id = "";
  it("runs the job to the end and prints where the report is", async () => {
    const r = await kiln(["run", spec("demo")]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    id = /started demo \((\S+)\)/.exec(r.out)![1]!;
    expect(r.out).toContain(`job demo (${id}) succeeded`);
    expect(r.out).toMatch(/\[#{20}\] 100% ep 1\.00 step 40 loss 0\.0250/);
  });

  it("status lists it as succeeded with its cost", async () => {
    const r = await kiln(["status"]);
    expect(r.out.split("\n")[0]).toMatchInlineSnapshot(`"JOB                   NAME  STATE      PROGRESS           ELAPSED  COST"`);
    expect(r.out).toContain(`${id}  demo  succeeded  [##########] 100%`);
    expect(await statusOf(id)).toMatchObject({ state: "succeeded", costUsd: 0, progress: { step: 40 } });
  });

  it("cost prints per job and the total", async () => {
    const r = JSON.parse((await kiln(["cost", "--json"])).out);
    expect(r.jobs[0]).toMatchObject({ id, name: "demo", state: "succeeded", provider: "local", costUsd: 0, maxUsd: 1 });
    expect(r.totalUsd).toBe(0);
  });

  it("logs prints the step logs", async () => {
    const r = await kiln(["logs", id]);
    expect(r.out.startsWith("==> train.log <==\n")).toBe(true);
    expect(r.out).toContain('"kind": "done"');
  });

  it("report prints the markdown and the html path; the artifact is verified", async () => {
    const r = await kiln(["report", id]);
    expect(r.out).toContain("# Kiln report: demo");
    expect(r.out).toContain("Training finished: completed.");
    expect(r.out).toMatch(/\| .*outputs\/sae\/sae\.safetensors \| sae \| 1024 \| [0-9a-f]{64} \| yes \|/);
    const html = (await kiln(["report", id, "--html"])).out.trim();
    expect(readFileSync(html, "utf8")).toContain("<svg");
  });
});

describe("kiln run --detach, stop, --resume", () => {
  it("stops a running job at a checkpoint and resumes it to the end", async () => {
    const slow = { FAKE_STEPS: "200", FAKE_STEP_MS: "30" };
    const r = await kiln(["run", "--detach", spec("slow")], slow);
    expect(r.code).toBe(0);
    const id = /started slow \((\S+)\)/.exec(r.out)![1]!;
    await pollUntil(async () => ((await statusOf(id)).progress.step ?? 0) >= 5 || undefined, { what: "first metrics", timeoutMs: 20_000, intervalMs: 100 });
    const s = await kiln(["stop", id, "--grace", "10"]);
    expect(s.out).toContain("it checkpointed and exited; state stopped");
    expect((await kiln(["stop", id])).err).toContain(`job slow (${id}) is already stopped`);
    const resumed = await kiln(["run", "--resume", id], { FAKE_STEPS: "60", FAKE_STEP_MS: "10" });
    expect(resumed.err).toBe("");
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`job slow (${id}) succeeded`);
    const metrics = readFileSync(join(env["KILN_HOME"]!, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8");
    expect(metrics).toContain('"reason": "sigterm"');
    expect(metrics).toContain('"resumed": true');
  });
});

describe("detaching and re-attaching", () => {
  it("Ctrl-C detaches `kiln run` without stopping the job; `kiln logs -f` follows it to the end", async () => {
    const env2 = { FAKE_STEPS: "40", FAKE_STEP_MS: "50" };
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("SIGINT")), 1500);
    const r = await kiln(["run", spec("attach")], env2, ac.signal);
    expect(r.code).toBe(0);
    const id = /started attach \((\S+)\)/.exec(r.out)![1]!;
    expect(r.err).toBe(`detached from attach (${id}); it keeps running.\n  → \`kiln logs -f ${id}\` to re-attach, \`kiln stop ${id}\` to stop it\n`);
    expect(["created", "running"]).toContain((await statusOf(id)).state);
    const f = await kiln(["logs", "-f", id]);
    expect(f.err).toBe("job succeeded\n");
    expect(f.out.match(/"kind": "train"/g)?.length).toBe(40);
  });
});

describe("failures and limits", () => {
  it("a failing workload fails the job with the log path", async () => {
    const r = await kiln(["run", spec("broken")], { FAKE_FAIL_AT: "3" });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/job broken \(\S+\) failed/);
    expect(r.err).toMatch(/reason: step train failed \(exit code 1\); see .*train\.log/);
  });

  it("the budget stops the job and alerts the webhook", async () => {
    const bodies: string[] = [];
    const server: Server = createServer((req, res) => {
      let b = "";
      req.on("data", (d) => {
        b += d;
      });
      req.on("end", () => {
        bodies.push(JSON.parse(b).text);
        res.end("ok");
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const extra = "alerts:\n  webhook_env: TEST_HOOK\n  on: [started, budget, failed, done]\n";
      // $36 000/h burns the $1 budget in 0.1 s.
      const r = await kiln(["run", spec("pricey", extra)], { KILN_LOCAL_PRICE_PER_HOUR: "36000", FAKE_STEPS: "400", TEST_HOOK: url });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/reason: budget reached: spent \$\d+\.\d\d of max_usd \$1\.00/);
      await pollUntil(async () => bodies.some((b) => b.includes("stopped")) || undefined, { what: "the final alert", timeoutMs: 10_000, intervalMs: 50 });
      expect(bodies[0]).toBe("▶️ kiln job *pricey*: started on this machine");
      expect(bodies.some((b) => b.startsWith("💸 kiln job *pricey*: 50% of the budget spent"))).toBe(true);
      expect(bodies.at(-1)).toMatch(/^❌ kiln job \*pricey\*: stopped: budget reached/);
    } finally {
      server.close();
    }
  });

  it("records a stall and a non-finite loss as events", async () => {
    const r = await kiln(["run", spec("shaky"), "--stall-minutes", "0.01"], { FAKE_SLEEP_BEFORE_MS: "1500", FAKE_NAN_AT: "3", FAKE_STEPS: "10" });
    expect(r.code).toBe(0);
    const id = /started shaky \((\S+)\)/.exec(r.out)![1]!;
    const ledger = Ledger.open(join(env["KILN_HOME"]!, "ledger.db"));
    try {
      expect(ledger.listEvents(id, { kind: "stall" })[0]?.reason).toMatch(/^no new metrics for \d+s \(threshold 1s\): the workload may be hung$/);
      expect(ledger.listEvents(id, { kind: "nonfinite" })[0]?.reason).toMatch(/^loss is NaN\/Inf at step 3: training diverged/);
    } finally {
      ledger.close();
    }
  });

  it("main errors: missing spec, non-local providers, unknown job, bad flags", async () => {
    expect(await kiln(["run", "nope.yaml"])).toMatchObject({ code: 2, err: expect.stringContaining("job spec not found") });
    const cloud = spec("cloud").replace(/$/, "");
    writeFileSync(cloud, `${readFileSync(cloud, "utf8")}resources:\n  providers: [lambda]\n`);
    const c = await kiln(["run", cloud]);
    expect(c.code).toBe(2);
    expect(c.err).toContain("kiln run can only run on this machine so far");
    for (const cmd of ["stop", "logs", "report", "status"]) expect(await kiln([cmd, "no-such-job"]), cmd).toMatchObject({ code: 2, err: 'error: no job "no-such-job"\n  → run `kiln status` to list jobs\n' });
    expect((await kiln(["stop", "x", "--grace", "soon"])).err).toContain('--grace: expected a positive number of seconds, got "soon"');
    expect((await kiln(["run", "--resume", "x", "also.yaml"])).code).toBe(2);
    expect(existsSync(join(env["KILN_HOME"]!, "ledger.db"))).toBe(true);
  });
});

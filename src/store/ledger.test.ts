import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ledger } from "./ledger.js";
import { MIGRATIONS } from "./migrations.js";
import { bundleForNode } from "./testing/bundle.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-ledger-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Ledger", () => {
  it("migrates a fresh database and reopens at the same version", () => {
    const path = join(dir, "m.db");
    Ledger.open(path).close();
    const l = Ledger.open(path);
    const v = l.db.prepare("SELECT MAX(version) AS v FROM schema_version").get() as { v: number };
    expect(v.v).toBe(MIGRATIONS.length);
    expect(l.db.pragma("journal_mode", { simple: true })).toBe("wal");
    l.close();
  });

  it("records a job's lifecycle with an event per transition", () => {
    const l = Ledger.open(":memory:");
    l.createJob({ id: "j1", name: "demo", kind: "sae-pii", specYaml: "name: demo\n", jobDir: "/x", planReason: "local GPU fits" });
    const a = l.startAttempt("j1", "local");
    const m = l.recordMachineIntent({ intentId: "i1", jobId: "j1", attemptId: a.id, provider: "local", offer: { gpu: "none" }, pricePerHour: 0 });
    expect(m.state).toBe("intent");
    l.markMachineLaunched(m.id, "local-1", "running", "2026-01-01T00:00:00.000Z");
    l.transitionJob("j1", "running", "supervisor started");
    l.recordArtifact({ jobId: "j1", path: "sae.safetensors", size: 3, sha256: "00", verified: true });
    l.endAttempt(a.id, "succeeded", "completed");
    l.markMachineTerminated(m.id, "job done");
    const job = l.transitionJob("j1", "succeeded", "completed");
    expect(job.state).toBe("succeeded");
    expect(job.ended_at).not.toBeNull();
    expect(l.findJob("demo")?.id).toBe("j1");
    expect(l.getMachine(m.id)?.launched_at).toBe("2026-01-01T00:00:00.000Z");
    expect(l.listArtifacts("j1")[0]?.verified_at).not.toBeNull();
    expect(l.listEvents("j1").map((e) => `${e.kind}:${e.to_state ?? e.reason}`)).toEqual([
      "job_state:created",
      "attempt_state:running",
      "machine_state:intent",
      "machine_state:running",
      "job_state:running",
      "artifact:verified sae.safetensors",
      "attempt_state:succeeded",
      "machine_state:terminated",
      "job_state:succeeded",
    ]);
  });

  it("refuses a second machine with the same intent id", () => {
    const l = Ledger.open(":memory:");
    l.recordMachineIntent({ intentId: "same", jobId: null, attemptId: null, provider: "local", offer: {}, pricePerHour: 0 });
    expect(() => l.recordMachineIntent({ intentId: "same", jobId: null, attemptId: null, provider: "local", offer: {}, pricePerHour: 0 })).toThrow(/UNIQUE/);
  });

  it("survives SIGKILL between any two writes (kill loop)", async () => {
    const writer = await bundleForNode("src/store/testing/kill-writer.ts");
    const path = join(dir, "kill.db");
    const reported = new Map<string, number>();
    const deadline = Date.now() + 20_000;
    let iterations = 0;
    for (let i = 0; i < 30 && Date.now() < deadline; i++) {
      const child = spawn(process.execPath, [writer, path, `k${i}`], { stdio: ["ignore", "pipe", "inherit"] });
      let buf = "";
      let firstWrite: () => void = () => {};
      const wrote = new Promise<void>((r) => {
        firstWrite = r;
      });
      child.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        firstWrite();
      });
      const exited = new Promise<void>((r) => child.on("exit", () => r()));
      // Odd iterations die at a random moment from spawn (possibly while opening or migrating the
      // database); even ones a random moment after their first committed write (deep in the loop),
      // so a slow machine, where Node's start-up eats the whole window, still tests the write path.
      if (i % 2 === 0) await Promise.race([wrote, new Promise((r) => setTimeout(r, 10_000))]);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * (i % 2 === 0 ? 60 : 300))));
      child.kill("SIGKILL");
      await exited;
      for (const line of buf.split("\n")) {
        const m = /^ok (\S+) (\d+)$/.exec(line);
        if (m) reported.set(m[1]!, Math.max(reported.get(m[1]!) ?? 0, Number(m[2])));
      }
      const l = Ledger.open(path);
      expect(l.integrityCheck()).toBe("ok");
      for (const [job, op] of reported) {
        // Each operation writes exactly one event, so a job's events count its committed operations.
        expect(l.listEvents(job).length, `job ${job}`).toBeGreaterThanOrEqual(op);
      }
      for (const job of l.listJobs()) {
        const states = l.listEvents(job.id, { kind: "job_state" });
        expect(states.at(-1)?.to_state).toBe(job.state);
        for (const m of l.listMachines(job.id)) {
          const ms = l.listEvents(job.id, { kind: "machine_state" }).filter((e) => e.machine_id === m.id);
          expect(ms.at(-1)?.to_state).toBe(m.state);
          expect(m.state === "terminated").toBe(m.terminated_at !== null);
        }
        for (const a of l.listAttempts(job.id)) {
          const as = l.listEvents(job.id, { kind: "attempt_state" }).filter((e) => e.attempt_id === a.id);
          expect(as.at(-1)?.to_state).toBe(a.state);
        }
      }
      l.close();
      iterations++;
    }
    expect(iterations).toBeGreaterThanOrEqual(6);
    expect(reported.size).toBeGreaterThanOrEqual(3);
  }, 60_000);
});

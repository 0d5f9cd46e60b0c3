/**
 * Test harness for cloud lifecycle tests: a Lambda emulator in the test process (so it outlives a
 * SIGKILLed Kiln), each instance backed by a real loopback sshd that authorizes the keys named at
 * launch, and the environment that points a Kiln process at it.
 */
import { appendFileSync, existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type LambdaEmulator, type LambdaEmulatorOptions, startLambdaEmulator } from "../../../providers/lambda/emulator.js";
import { type TestSshd, startSshd } from "../../../remote/ssh/loopback-sshd.js";
import { Ledger, isTerminal } from "../../../store/index.js";
import { isJobProcess } from "../../supervisor/index.js";
import { bundleDriver } from "./driver-bundle.js";

export interface CloudHarness {
  emu: LambdaEmulator;
  /** LAMBDA_API_KEY and KILN_LAMBDA_API_URL for a Kiln process. */
  env: Record<string, string>;
  /** Instances the emulator still has that are not terminated. */
  live(): { id: string; name: string | undefined; status: string }[];
  /** The machine's home directory (its loopback sshd's), to read what the run wrote there before a reclaim. */
  homeOf(id: string): string | undefined;
  close(): Promise<void>;
}

export interface HarnessOptions extends Omit<LambdaEmulatorOptions, "onLaunch" | "onTerminate"> {
  /** Environment of every command run on the machines (e.g. FAKE_STEPS for the fake workload). */
  machineEnv?: Record<string, string>;
}

export async function startCloudHarness(o: HarnessOptions = {}): Promise<CloudHarness> {
  const sshds = new Map<string, TestSshd>();
  let emu: LambdaEmulator | undefined;
  emu = await startLambdaEmulator({
    bootDelayMs: 200,
    terminateDelayMs: 100,
    ...o,
    onLaunch: async (i) => {
      const s = await startSshd();
      sshds.set(i.id, s);
      // The file systems it was launched with, at /lambda/nfs/NAME as its code sees them (fs-contents.ts).
      const mounts = emu!.mountsOf(i.id);
      const env = { ...o.machineEnv, ...(Object.keys(mounts).length > 0 && { KILN_SIM_MOUNTS: JSON.stringify(mounts) }) };
      if (Object.keys(env).length > 0) s.setEnv(env);
      const inst = emu!.account.instances.get(i.id);
      for (const k of emu!.account.sshKeys.filter((k) => inst?.sshKeyNames.includes(k.name))) appendFileSync(join(s.dir, "authorized_keys"), `${k.public_key}\n`);
      return { ip: s.host, port: s.port };
    },
    onTerminate: async (i) => {
      const s = sshds.get(i.id);
      sshds.delete(i.id);
      await s?.cleanup();
    },
  });
  const e = emu;
  return {
    emu: e,
    env: { LAMBDA_API_KEY: e.apiKey, KILN_LAMBDA_API_URL: e.url },
    homeOf: (id) => sshds.get(id)?.home,
    live: () => e.inspect().filter((i) => i.status !== "terminated").map((i) => ({ id: i.id, name: i.name, status: i.status })),
    close: async () => {
      await e.close();
      for (const s of sshds.values()) await s.cleanup();
      sshds.clear();
    },
  };
}

/** After a failed or timed-out test: SIGKILL the drivers (and their process groups) of unfinished jobs. */
/** Wait (blocking: test teardown only) until the job's driver is gone; false if it is still there at the deadline. */
function waitForExit(pid: number, jobId: string, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  while (isJobProcess(pid, jobId)) {
    if (Date.now() >= deadline) return false;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  return true;
}

export function killDrivers(ledgerPaths: readonly string[]): void {
  for (const p of ledgerPaths) {
    if (!existsSync(p)) continue;
    const l = Ledger.open(p);
    try {
      for (const j of l.listJobs()) {
        // Pids are reused (pid_max is 32768 here): a driver killed minutes ago may share its pid with another
        // test's driver or machine by now, so only a process that is still this job's is killed.
        if (!isJobProcess(j.supervisor_pid, j.id)) continue;
        // A finished job's driver is only finishing its log: let it, for up to 10 s, then kill it too.
        if (isTerminal(j.state) && waitForExit(j.supervisor_pid!, j.id, 10_000)) continue;
        try {
          process.kill(-j.supervisor_pid!, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    } finally {
      l.close();
    }
  }
}

/**
 * The environment of a Kiln process in the cloud e2e tests: the bundled driver (a real detached process)
 * and fast pacing (polls of a few hundred ms, short teardown waits), over the test process's own.
 */
export async function cloudTestEnv(overrides: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  return {
    ...process.env,
    KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(),
    KILN_FOLLOW_INTERVAL_MS: "100",
    KILN_CLOUD_POLL_MS: "300",
    KILN_TERMINATE_POLL_MS: "100",
    KILN_TERMINATE_TIMEOUT_MS: "20000",
    KILN_STOP_GRACE_MS: "5000",
    ...overrides,
  };
}

/** After a cloud e2e file: no detached driver may outlive it; its KILN_HOMEs go unless KILN_KEEP_TEST_DIR. */
export function removeTestHomes(dir: string): void {
  killDrivers(readdirSync(dir).map((d) => join(dir, d, "ledger.db")));
  // A driver whose job just ended may still be writing its last log lines (and would recreate a removed
  // directory): rmSync retries the ENOTEMPTY that leaves.
  if (!process.env["KILN_KEEP_TEST_DIR"]) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}

/** The job's state, attempts, last events and the tail of its driver's log, for a failure message. */
export function jobTrace(home: string, id: string): string {
  const ledger = inLedger(home, (l) => ({
    state: l.getJob(id)?.state,
    attempts: l.listAttempts(id).map((a) => `${a.provider}:${a.state}`),
    events: l.listEvents(id).slice(-8).map((e) => `${e.kind}: ${e.reason ?? ""}`),
  }));
  const log = join(home, "jobs", id, "logs", "driver.log");
  const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-40).join("\n") : "(no driver.log)";
  return `job ${JSON.stringify(ledger)}\ndriver.log (last 40 lines):\n${tail}`;
}

/** Read a test KILN_HOME's ledger, closing it after. */
export function inLedger<T>(home: string, f: (l: Ledger) => T): T {
  const l = Ledger.open(join(home, "ledger.db"));
  try {
    return f(l);
  } finally {
    l.close();
  }
}

/** A job's pulled sae/metrics.jsonl, parsed: every attempt's lines (the restore carries the file over). */
export function metricLines(home: string, id: string): Record<string, unknown>[] {
  return readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

// The on-machine watchdog as it runs on a machine: POSIX sh + curl, here on this computer through
// localExec. At the deadline it SIGTERMs the job's process group (the job saves and exits) and, when
// opted in, ends billing with the provider's end-billing script (Lambda's: the API terminate against the
// emulator), with the key in a 0600 file in a 0700 directory rather than on argv.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { LambdaClient } from "../../providers/lambda/client.js";
import { lambdaEndBilling } from "../../providers/lambda/descriptor.js";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { localExec } from "../../remote/exec.js";
import { runStatus, startRun } from "../../remote/session/run.js";
import { startWatchdog } from "./index.js";

let dir: string | undefined;
let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
});

// A job that saves on SIGTERM, like the engine.
const JOB = ["sh", "-c", "trap 'echo saved > \"$0/saved\"; exit 0' TERM; while :; do sleep 0.1; done"];

describe("on-machine watchdog", () => {
  it("stops the job at the deadline and terminates the instance itself when opted in", async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-wd-"));
    emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 0 });
    const signal = new AbortController().signal;
    const client = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
    await client.ensureSshKey("k", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T k", signal);
    const [id] = await client.launchInstance({ region_name: "us-east-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["k"], name: "kiln-wd" }, signal);
    const runDir = join(dir, "run");
    await startRun(localExec, { name: "kiln-wd-job", dir: runDir, argv: [...JOB.slice(0, 3), dir], method: "setsid" });
    const t0 = Date.now();
    await startWatchdog(localExec, { dir: join(dir, "watchdog"), name: "kiln-wd-dog", runDir, remainingS: 1, graceS: 5, endBilling: lambdaEndBilling(emu.url, emu.apiKey)(id!) });
    expect(statSync(join(dir, "watchdog", "private")).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "watchdog", "private", "auth-header")).mode & 0o777).toBe(0o600);
    // The key is in the file, never on the watchdog's command line.
    expect(readFileSync(join(dir, "watchdog", "run.sh"), "utf8")).not.toContain(emu.apiKey);
    await pollUntil(async () => ((await runStatus(localExec, runDir)).state === "exited" ? true : undefined), { what: "the job to stop", timeoutMs: 15_000, intervalMs: 100 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(statSync(join(dir, "saved")).isFile()).toBe(true);
    await pollUntil(async () => (emu!.inspect()[0]!.status === "terminated" ? true : undefined), { what: "the instance to be terminated", timeoutMs: 15_000, intervalMs: 100 });
    // Its work done, the watchdog exits (before, the test's cleanup raced its last log lines: ENOTEMPTY).
    await pollUntil(async () => ((await runStatus(localExec, join(dir!, "watchdog"))).state === "exited" ? true : undefined), { what: "the watchdog to exit", timeoutMs: 15_000, intervalMs: 100 });
  }, 30_000);

  it("leaves the machine alone without the opt-in, and exits once the job has ended", async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-wd-"));
    const runDir = join(dir, "run");
    await startRun(localExec, { name: "kiln-wd-job2", dir: runDir, argv: ["true"], method: "setsid" });
    const wd = await startWatchdog(localExec, { dir: join(dir, "watchdog"), name: "kiln-wd-dog2", runDir, remainingS: 3600, graceS: 5 });
    await pollUntil(async () => ((await runStatus(localExec, wd.dir)).state === "exited" ? true : undefined), { what: "the watchdog to exit", timeoutMs: 10_000, intervalMs: 100 });
    expect(await runStatus(localExec, wd.dir)).toEqual({ state: "exited", code: 0 });
  }, 30_000);
});

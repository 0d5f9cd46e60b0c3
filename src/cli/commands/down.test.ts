// `kiln down JOB` on a launch whose machine id was never recorded (the launch answered 200 without an id,
// or its reply was lost, or the driver died right after sending it), in-process against the Lambda
// emulator's `no-id` fault. down must find the machine by its intent's name, adopt it and terminate it
// with confirmation; and it must never answer "no machine running" with exit 0 while the launch's outcome
// is unknown (sent, not listed yet, within the listing lag).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CloudFile, writeCloudFile } from "../../core/lifecycle/cloud-file.js";
import { LambdaClient } from "../../providers/lambda/client.js";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { Ledger } from "../../store/index.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T x";
let emu: LambdaEmulator;
let home: string;

beforeEach(async () => {
  // Booting for the whole test: nothing to ssh into, so down cannot verify outputs (only --force ends it).
  emu = await startLambdaEmulator({ bootDelayMs: 600_000, terminateDelayMs: 50 });
  home = mkdtempSync(join(tmpdir(), "kiln-down-"));
});
afterEach(async () => {
  await emu.close();
  rmSync(home, { recursive: true, force: true });
});

const offer = { provider: "lambda", instanceType: "gpu_1x_a10", gpu: "A10-24GB", gpuCount: 1, vramGb: 24, region: "us-east-1", pricePerHour: 0.75, spot: false, priceSource: "live", priceDate: "2026-12-05" } as const;

/** A cloud job whose driver is gone, holding one intent with no provider id: the launch was sent, its id never recorded. */
function jobWithIntent(): { jobId: string; intentId: string; rowId: number } {
  const jobId = "j-down-1";
  const jobDir = join(home, "jobs", jobId);
  mkdirSync(jobDir, { recursive: true });
  const cloud: CloudFile = {
    version: 1,
    jobId,
    jobName: "down",
    provider: "lambda",
    sim: false,
    specDir: home,
    offers: [offer],
    maxOffers: 1,
    budget: { maxUsd: 5, alertFractions: [] },
    pollMs: 1_000,
    teardownReserveMs: 0,
    bootTimeoutMs: 60_000,
    terminate: { pollMs: 50, timeoutMs: 5_000 },
    stopGraceMs: 1_000,
    watchdogTerminate: false,
  };
  writeCloudFile(jobDir, cloud);
  const l = Ledger.open(join(home, "ledger.db"));
  try {
    l.createJob({ id: jobId, name: "down", kind: "command", specYaml: "name: down\n", jobDir });
    l.transitionJob(jobId, "running", "driver started");
    const a = l.startAttempt(jobId, "lambda");
    const intentId = `${l.installationId()}-0123456789`;
    const row = l.recordMachineIntent({ intentId, jobId, attemptId: a.id, provider: "lambda", offer, pricePerHour: 0.75 });
    return { jobId, intentId, rowId: row.id };
  } finally {
    l.close();
  }
}

/** Send the intent's launch with the emulator answering 200 and no id: the machine exists, bills, and is listed. */
async function launchWithoutId(intentId: string): Promise<string> {
  const client = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
  const signal = AbortSignal.timeout(10_000);
  await client.ensureSshKey("someone", PUB, signal);
  emu.inject({ kind: "no-id", times: 1 });
  expect(await client.launchInstance({ region_name: "us-east-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["someone"], name: `kiln-${intentId}` }, signal)).toEqual([]);
  const [m] = emu.inspect().filter((i) => i.name === `kiln-${intentId}`);
  return m!.id;
}

async function down(argv: string[], extra: Record<string, string> = {}) {
  const io = captureIo();
  const env = { PATH: process.env["PATH"], HOME: home, KILN_HOME: home, LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url, KILN_TERMINATE_POLL_MS: "50", KILN_TERMINATE_TIMEOUT_MS: "5000", ...extra };
  const code = await main(["down", ...argv], io, { env, cwd: home });
  return { code, out: io.stdout, err: io.stderr };
}

const inLedger = <T>(f: (l: Ledger) => T): T => {
  const l = Ledger.open(join(home, "ledger.db"));
  try {
    return f(l);
  } finally {
    l.close();
  }
};

describe("kiln down: an intent whose machine id was never recorded", () => {
  it("finds the machine by its intent's name, keeps it while outputs are unverified, and --force terminates and confirms it", async () => {
    const { jobId, intentId, rowId } = jobWithIntent();
    const id = await launchWithoutId(intentId);
    const kept = await down([jobId]);
    expect(kept.code).not.toBe(0);
    expect(kept.out).not.toMatch(/no machine running/);
    expect(kept.err).toMatch(new RegExp(`${id} is \\S+ and cannot be reached to verify its artifacts; the machine is kept`));
    inLedger((l) => {
      expect(l.getMachine(rowId)).toMatchObject({ provider_id: id });
      expect(l.listEvents(jobId, { kind: "adopt" }).map((e) => e.reason)).toEqual([`kiln down found ${id} by its name kiln-${intentId} (its id was never recorded)`]);
    });
    expect(emu.inspect().find((i) => i.id === id)?.status).not.toBe("terminated");

    const forced = await down([jobId, "--force"]);
    expect(forced.out).toMatch(new RegExp(`down \\(${jobId}\\) down: 1 machine\\(s\\) terminated and confirmed \\(artifacts NOT verified\\); state interrupted`));
    expect(forced.code).toBe(0);
    expect(emu.inspect().find((i) => i.id === id)?.status).toBe("terminated");
    inLedger((l) => {
      expect(l.getMachine(rowId)).toMatchObject({ provider_id: id, state: "terminated" });
      expect(l.listEvents(jobId, { kind: "machine_state" }).at(-1)?.reason).toBe("confirmed terminated by lambda (kiln down --force)");
    });
  });

  it("a launch sent moments ago that the provider does not list yet is an unknown outcome: an error, never 'no machine running'", async () => {
    const { jobId, intentId, rowId } = jobWithIntent();
    const r = await down([jobId, "--force"], { KILN_LISTING_LAG_MS: "600000" });
    expect(r.code).not.toBe(0);
    expect(r.out).not.toMatch(/no machine running/);
    expect(r.err).toMatch(new RegExp(`job ${jobId} sent a launch \\d+ s ago that lambda does not list yet`));
    expect(r.err).toMatch(new RegExp(`run \`kiln down ${jobId}\` again in a minute \\(the machine, if it exists, is named kiln-${intentId}\\)`));
    inLedger((l) => {
      expect(l.getMachine(rowId)).toMatchObject({ provider_id: null, state: "intent" });
      expect(l.getJob(jobId)!.state).toBe("running");
    });
  });

  it("an intent older than the listing lag and not listed was never launched: closed, and only then 'no machine running'", async () => {
    const { jobId, rowId } = jobWithIntent();
    const r = await down([jobId], { KILN_LISTING_LAG_MS: "1" });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`down \\(${jobId}\\) has no machine running; state interrupted`));
    inLedger((l) => expect(l.getMachine(rowId)!.state).toBe("never-launched"));
  });
});

// `kiln gc`'s sweep of untracked Kiln machines, in-process against the Lambda emulator: each machine is
// terminated and its termination confirmed, as a job's teardown is. One whose terminate keeps failing (503)
// is never counted as terminated: gc says loudly that it may still be billing, where to look, what to run
// next, records the alert, and exits non-zero.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LambdaClient } from "../../providers/lambda/client.js";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { Ledger } from "../../store/index.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T x";
let emu: LambdaEmulator;
let home: string;

beforeEach(async () => {
  emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 50 });
  home = mkdtempSync(join(tmpdir(), "kiln-gc-"));
});
afterEach(async () => {
  await emu.close();
  rmSync(home, { recursive: true, force: true });
});

/** A Kiln-named machine of this installation that no ledger row holds (its job's ledger was lost, say). */
async function orphan(): Promise<{ id: string; name: string }> {
  const ledger = Ledger.open(join(home, "ledger.db"));
  const name = `kiln-${ledger.installationId()}-0123456789`;
  ledger.close();
  const client = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
  const signal = AbortSignal.timeout(10_000);
  await client.ensureSshKey("someone", PUB, signal);
  const [id] = await client.launchInstance({ region_name: "us-east-1", instance_type_name: "gpu_1x_a10", ssh_key_names: ["someone"], name }, signal);
  return { id: id!, name };
}

async function gc() {
  const io = captureIo();
  const env = { PATH: process.env["PATH"], HOME: home, KILN_HOME: home, LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url, KILN_TERMINATE_POLL_MS: "50", KILN_TERMINATE_TIMEOUT_MS: "1500" };
  const code = await main(["gc"], io, { env, cwd: home });
  return { code, out: io.stdout, err: io.stderr };
}

const live = () => emu.inspect().filter((i) => i.status !== "terminated").map((i) => i.id);

describe("kiln gc: every machine it ends goes through terminate-and-confirm", () => {
  it("terminates an untracked machine and waits for the provider to confirm it gone", async () => {
    const m = await orphan();
    const r = await gc();
    expect(r.out).toContain(`orphan ${m.name} (${m.id}) gpu_1x_a10 in us-east-1`);
    expect(r.out).toMatch(/terminated 1 orphan\(s\)\n/);
    expect(r.code).toBe(0);
    // Confirmed, not merely asked: the emulator has it terminated by the time gc returns.
    expect(live()).toEqual([]);
    const l = Ledger.open(join(home, "ledger.db"));
    expect(l.listEventsOfKind("gc").map((e) => e.reason)).toEqual([`terminated untracked ${m.name} (${m.id}) on lambda, confirmed`]);
    l.close();
  });

  it("a terminate that keeps failing (503): may still be billing, the console, `kiln gc` again; exit 1", async () => {
    const m = await orphan();
    emu.inject({ kind: "error-5xx", status: 503, match: { method: "POST", path: "/instance-operations/terminate" } });
    const r = await gc();
    expect(r.code).toBe(1);
    const loud = new RegExp(`MACHINE ${m.id} ON LAMBDA MAY STILL BE BILLING \\(\\$0\\.75/h\\): its termination could not be confirmed \\(.*\\)\\. Check https://cloud\\.lambda\\.ai/instances, then run \`kiln gc\` again`);
    expect(r.err).toMatch(loud);
    expect(r.out).toMatch(new RegExp(`terminated 0 orphan\\(s\\); failed: ${m.id}: MACHINE ${m.id} ON LAMBDA MAY STILL BE BILLING`));
    expect(live()).toEqual([m.id]);
    const l = Ledger.open(join(home, "ledger.db"));
    expect(l.listEventsOfKind("alert").map((e) => e.reason)).toEqual([expect.stringMatching(loud)]);
    expect(l.listEventsOfKind("gc")).toEqual([]);
    l.close();
  });

  it("a dead job's machine that will not terminate: the same loud message, with the console and `kiln down JOB --force`", async () => {
    const m = await orphan();
    const l = Ledger.open(join(home, "ledger.db"));
    l.createJob({ id: "j-dead", name: "dead", kind: "command", specYaml: "name: dead\n", jobDir: join(home, "none") });
    const row = l.recordMachineIntent({ intentId: m.name.slice("kiln-".length), jobId: "j-dead", attemptId: null, provider: "lambda", offer: {}, pricePerHour: 0.75 });
    l.markMachineLaunched(row.id, m.id, "active");
    l.close();
    emu.inject({ kind: "error-5xx", status: 503, match: { method: "POST", path: "/instance-operations/terminate" } });
    const r = await gc();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`MACHINE ${m.id} ON LAMBDA MAY STILL BE BILLING \\(\\$0\\.75/h\\).*Check https://cloud\\.lambda\\.ai/instances, then run \`kiln down j-dead --force\` or \`kiln gc\``));
    expect(live()).toEqual([m.id]);
  });
});

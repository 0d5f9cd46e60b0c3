// The offline cap, for real: the client is gone (nothing of Kiln's runs but the machine's own processes),
// the budget cap is reached, and the on-machine watchdog — POSIX sh on this computer through localExec —
// checkpoints the job, pushes its outputs to moto's S3 on loopback (IAM authentication on: signatures and
// policies checked), verifies them against the sha256 manifest, and ends billing through the Lambda
// emulator's API with lambdaEndBilling. Both caps (dollars, hours), with and without a store, keep-data and
// stop-billing, and a store that rejects writes. And GCS (Kiln's emulator, ../artifact-store/testing/gcs.ts)
// through two upload sessions opened at launch with a user's token that has expired by the cap (the client
// left more than that token's hour before it). After every case: 0 orphans (every emulated instance
// terminated once the returning client has done its part), 0 lost outputs (the manifest verified in the
// store, or on the kept machine) unless the spec chose stop-billing, and spend ≤ cap + one polling interval.
// No wall-clock thresholds: deadlines below only bound a hang.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { pollUntil } from "../../base/deadline.js";
import { LambdaClient } from "../../providers/lambda/client.js";
import { lambdaDescriptor, lambdaEndBilling } from "../../providers/lambda/descriptor.js";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { localExec } from "../../remote/exec.js";
import { runStatus, startRun, stopRun } from "../../remote/session/run.js";
import { localManifest } from "../../remote/sync/manifest.js";
import { storeCredentialsForJob, storeCredentialsForReading, storeCredentialsFromEnv, storeLocation, verifyDurableCopy } from "../artifact-store/index.js";
import { type GcsEmulator, startGcsEmulator } from "../artifact-store/testing/gcs.js";
import { type MotoStore, startMotoStore } from "../artifact-store/testing/moto.js";
import { capGuarantee } from "../planner/cap-guarantee.js";
import { type JobSpec, jobSpecSchema } from "../spec/job-spec.js";
import { type CapOutcome, readCapOutcome, secondsUntilCap, startWatchdog, stopWatchdog, watchdogForJob } from "./index.js";

/** The driver's provider poll: the spend bound allows one interval past the cap. */
const POLL_INTERVAL_S = 15;
const GRACE_S = 10;
const PUSH_ALLOWANCE_S = 60;
/** How far past launch the watchdog fires: the cap is this plus what watchdogForJob reserves. */
const FIRE_AFTER_S = 2;
const TYPE = "gpu_1x_a10";

// A job that saves a checkpoint into its outputs on SIGTERM, like the engine, then exits.
const ENGINE = ["sh", "-c", "trap 'head -c 200000 /dev/urandom > \"$0/checkpoint.bin.tmp\" && mv \"$0/checkpoint.bin.tmp\" \"$0/checkpoint.bin\"; exit 0' TERM; while :; do sleep 0.1; done"];

let moto: MotoStore | undefined;
let motoSkip: string | undefined;
let gcs: GcsEmulator;
/** A user's token (ADC's kind: an hour, no expires_in at STS), expired once the sessions are open. */
let gcsUser: string;
beforeAll(async () => {
  gcs = await startGcsEmulator({ buckets: ["kiln-cap"] });
  gcsUser = gcs.addToken({ expiresInS: 3600, serviceAccount: false });
  const m = await startMotoStore();
  if ("skip" in m) motoSkip = m.skip;
  else moto = m;
}, 200_000);
afterAll(async () => {
  await moto?.close();
  await gcs.close();
});

interface Case {
  dir: string;
  emu: LambdaEmulator;
  runDir: string;
  watchdogDir: string;
  outputsDir: string;
}
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Cap = "usd" | "hours";
type Store = "none" | "writer" | "role" | "readonly" | "gcs";

function specFor(o: { cap: Cap; capS: number; price: number; store: Store; choice?: "keep-data" | "stop-billing" }): JobSpec {
  const budget = o.cap === "usd" ? { max_usd: (o.price * o.capS) / 3600 } : { max_usd: 1000, max_hours: o.capS / 3600 };
  const store =
    o.store === "none"
      ? undefined
      : o.store === "gcs"
        ? { url: "gs://kiln-cap/runs", endpoint_url: gcs.url, access_token_env: "TEST_GCS_TOKEN" }
        : {
          url: `s3://${moto!.bucket}/${moto!.prefix}`,
          endpoint_url: moto!.url,
          region: moto!.region,
          access_key_id_env: "TEST_STORE_KEY",
          secret_access_key_env: "TEST_STORE_SECRET",
          ...(o.store === "role" && { role_arn: moto!.role_arn }),
        };
  return jobSpecSchema.parse({
    name: "cap-offline",
    resources: { providers: ["lambda"], min_vram_gb: 10 },
    budget: { ...budget, ...(o.choice && { on_cap_offline: o.choice }) },
    workload: { type: "command", run: ["true"] },
    artifacts: { ...(store && { store }) },
  });
}

function storeEnv(store: Store): NodeJS.ProcessEnv {
  if (store === "gcs") return { TEST_GCS_TOKEN: gcsUser };
  const key = store === "readonly" ? moto!.readonly : store === "role" ? moto!.admin : moto!.writer;
  return { TEST_STORE_KEY: key.id, TEST_STORE_SECRET: key.secret };
}

async function machine(): Promise<Case & { id: string; price: number; launchedAtMs: number; client: LambdaClient }> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-cap-"));
  const emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 0 });
  const outputsDir = join(dir, "outputs");
  mkdirSync(outputsDir);
  const c: Case = { dir, emu, runDir: join(dir, "run"), watchdogDir: join(dir, "watchdog"), outputsDir };
  cleanups.push(async () => {
    await stopWatchdog(localExec, c.watchdogDir).catch(() => undefined);
    await stopRun(localExec, c.runDir, { graceMs: 2_000 }).catch(() => undefined);
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const signal = new AbortController().signal;
  const client = new LambdaClient({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
  await client.ensureSshKey("k", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T k", signal);
  const [id] = await client.launchInstance({ region_name: "us-east-1", instance_type_name: TYPE, ssh_key_names: ["k"], name: "kiln-cap" }, signal);
  const inst = emu.inspect().find((i) => i.id === id)!;
  const price = (await client.listInstanceTypes(signal))[TYPE]!.instance_type.price_cents_per_hour / 100;
  // Outputs the job wrote before the cap (metrics, an earlier checkpoint), beside the one SIGTERM saves.
  await localExec.run(["sh", "-c", 'mkdir -p "$1/sae" && printf "{\\"step\\": 1}\\n" > "$1/metrics.jsonl" && head -c 50000 /dev/urandom > "$1/sae/step-1.bin"', "sh", outputsDir]);
  await startRun(localExec, { name: `kiln-cap-job-${id!.slice(0, 8)}`, dir: c.runDir, argv: [...ENGINE, outputsDir], method: "setsid" });
  return { ...c, id: id!, price, launchedAtMs: inst.launchedAt, client };
}

const capSecondsFor = (store: Store) => FIRE_AFTER_S + GRACE_S + (store === "none" ? 0 : PUSH_ALLOWANCE_S) + 30;

async function runCase(o: { cap: Cap; store: Store; choice?: "keep-data" | "stop-billing" }) {
  const m = await machine();
  const capS = capSecondsFor(o.store);
  const spec = specFor({ cap: o.cap, capS, price: m.price, store: o.store, ...(o.choice && { choice: o.choice }) });
  const jobId = `j-${m.id.slice(0, 10)}`;
  const store = spec.artifacts.store;
  const location = store && storeLocation(store, jobId);
  const credentials = store && location ? await storeCredentialsForJob({ store, location, env: storeEnv(o.store), validForS: 3600, sessionName: jobId }) : undefined;
  const left = secondsUntilCap({ budget: spec.budget, capPricePerHour: m.price, launchedAtMs: m.launchedAtMs, nowMs: Date.now() });
  expect(left.binding).toBe(o.cap);
  const w = watchdogForJob({
    spec,
    jobId,
    runDir: m.runDir,
    watchdogDir: m.watchdogDir,
    outputsDir: m.outputsDir,
    secondsUntilCap: left.seconds,
    graceS: GRACE_S,
    endBilling: lambdaEndBilling(m.emu.url, m.emu.apiKey)(m.id),
    capabilities: lambdaDescriptor.cap,
    ...(credentials && { storeCredentials: credentials }),
    python: "python3",
    pushAllowanceS: PUSH_ALLOWANCE_S,
  });
  await startWatchdog(localExec, w);
  // Nothing of the store's or the provider's secrets on the watchdog's command line.
  const runSh = readFileSync(join(m.watchdogDir, "run.sh"), "utf8");
  expect(runSh).not.toContain(m.emu.apiKey);
  if (credentials?.kind === "s3") expect(runSh).not.toContain(credentials.secretAccessKey.reveal());
  if (credentials?.kind === "gcs-sessions") expect(runSh).not.toContain(credentials.archive.reveal());
  // The client is gone, and with it any token: the user's hour-long one has run out before the cap.
  if (o.store === "gcs") gcs.expire(gcsUser);
  if (credentials) expect(statSync(join(m.watchdogDir, "private", "store.json")).mode & 0o777).toBe(0o600);
  const settled = (x: CapOutcome) => x.billing !== "pending";
  const outcome = await pollUntil(async () => {
    const x = await readCapOutcome(localExec, m.watchdogDir);
    return settled(x) ? x : undefined;
  }, { what: "the watchdog to act at the cap", timeoutMs: 120_000, intervalMs: 250 });
  return { m, spec, jobId, location, outcome, capS, credentials };
}

const order = (o: CapOutcome) => o.events.map((e) => `${e.step} ${e.result}`);

async function terminatedAndBilled(m: Awaited<ReturnType<typeof machine>>, capUsd: number) {
  await pollUntil(async () => (m.emu.inspect().every((i) => i.status === "terminated") ? true : undefined), { what: "no instance left running", timeoutMs: 60_000, intervalMs: 200 });
  const [inst] = m.emu.inspect();
  // Spend ≤ cap + one polling interval, from the emulator's own billing clock.
  expect(inst!.costUsd).toBeLessThanOrEqual(capUsd + (m.price * POLL_INTERVAL_S) / 3600);
}

async function checkpointSaved(m: { outputsDir: string }) {
  expect((await runStatus(localExec, join(m.outputsDir, "..", "run"))).state).toBe("exited");
  expect(statSync(join(m.outputsDir, "checkpoint.bin")).size).toBe(200_000);
}

async function durableCopyVerified(r: Awaited<ReturnType<typeof runCase>>) {
  const expected = await localManifest(r.m.outputsDir);
  expect(expected.map((e) => e.path)).toEqual(["checkpoint.bin", "metrics.jsonl", "sae/step-1.bin"]);
  // The test reads as the account's admin: what the store holds, whoever wrote it.
  const check = await verifyDurableCopy({ location: r.location!, credentials: storeCredentialsFromEnv(r.spec.artifacts.store!, { TEST_STORE_KEY: moto!.admin.id, TEST_STORE_SECRET: moto!.admin.secret }), expected });
  expect(check).toMatchObject({ ok: true, verified: 3, missing: [], mismatched: [], notInManifest: [] });
  expect(r.outcome.push).toMatchObject({ ok: true, files: 3, store: r.location!.url });
}

const capUsdOf = (r: { spec: JobSpec; capS: number; m: { price: number } }) => (r.spec.budget.max_hours !== undefined ? r.spec.budget.max_hours * r.m.price : r.spec.budget.max_usd);

describe("the offline cap: checkpoint, push + verify, then end billing", () => {
  const withMoto = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (motoSkip !== undefined) ctx.skip(`moto could not start: ${motoSkip}`);
      await fn();
    }, 240_000);

  withMoto("hours cap, durable store (the key as given), on_cap_offline unset: store verified, then billing ended", async () => {
    const r = await runCase({ cap: "hours", store: "writer" });
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push verified", "billing ended"]);
    expect(r.outcome).toMatchObject({ reached: true, outputs: "durable", billing: "ended" });
    await checkpointSaved(r.m);
    await durableCopyVerified(r);
    await terminatedAndBilled(r.m, capUsdOf(r));
  });

  withMoto("dollars cap, durable store through a role scoped by STS to the job's prefix, stop-billing: store verified, then billing ended", async () => {
    const r = await runCase({ cap: "usd", store: "role", choice: "stop-billing" });
    expect(r.credentials).toMatchObject({ scope: "session-policy" });
    expect(r.credentials).toMatchObject({ kind: "s3" });
    expect(r.credentials!.kind === "s3" && r.credentials!.accessKeyId).not.toBe(moto!.admin.id);
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push verified", "billing ended"]);
    await checkpointSaved(r.m);
    await durableCopyVerified(r);
    await terminatedAndBilled(r.m, capUsdOf(r));
  });

  withMoto("dollars cap, a store that rejects writes, keep-data: the push fails and the machine is kept with the outputs on it", async () => {
    const r = await runCase({ cap: "usd", store: "readonly", choice: "keep-data" });
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push failed", "billing withheld"]);
    expect(r.outcome).toMatchObject({ outputs: "on-machine", billing: "withheld", push: { ok: false } });
    expect(r.outcome.push!.error).toMatch(/AccessDenied/);
    await checkpointSaved(r.m);
    expect(r.m.emu.inspect()[0]!.status).toBe("active");
    await returningClientSavesAndEnds(r.m);
  });

  withMoto("hours cap, a store that rejects writes, stop-billing: the push fails, billing ends and the loss is recorded", async () => {
    const r = await runCase({ cap: "hours", store: "readonly", choice: "stop-billing" });
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push failed", "outputs lost", "billing ended"]);
    expect(r.outcome).toMatchObject({ outputs: "lost", billing: "ended" });
    await terminatedAndBilled(r.m, capUsdOf(r));
  });
});

describe("the offline cap with GCS as the durable store", () => {
  it("dollars cap, upload sessions and the user's token expired before the cap, on_cap_offline unset: store verified, then billing ended", async () => {
    const r = await runCase({ cap: "usd", store: "gcs" });
    expect(r.credentials).toMatchObject({ kind: "gcs-sessions" });
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push verified", "billing ended"]);
    expect(r.outcome).toMatchObject({ reached: true, outputs: "durable", billing: "ended", push: { ok: true, files: 3, store: r.location!.url } });
    await checkpointSaved(r.m);
    const expected = await localManifest(r.m.outputsDir);
    // The returning client reads with a fresh token of its own.
    const reader = await storeCredentialsForReading(r.spec.artifacts.store!, r.location!, { TEST_GCS_TOKEN: gcs.adminToken });
    expect(await verifyDurableCopy({ location: r.location!, credentials: reader, expected })).toMatchObject({ ok: true, verified: 3, missing: [], mismatched: [], notInManifest: [] });
    // Only the job's prefix was written.
    expect(gcs.names("kiln-cap").every((n) => n.startsWith(`${r.location!.keyPrefix}/`))).toBe(true);
    await terminatedAndBilled(r.m, capUsdOf(r));
  }, 240_000);
});

/** The client comes back to a kept machine: its outputs are whole (the manifest computed there), then it ends billing. */
async function returningClientSavesAndEnds(m: Awaited<ReturnType<typeof machine>>) {
  const manifest = await localManifest(m.outputsDir);
  const sha = createHash("sha256").update(readFileSync(join(m.outputsDir, "checkpoint.bin"))).digest("hex");
  expect(manifest.find((e) => e.path === "checkpoint.bin")?.sha256).toBe(sha);
  await stopWatchdog(localExec, m.watchdogDir);
  await m.client.terminateInstances([m.id], new AbortController().signal);
  await pollUntil(async () => (m.emu.inspect().every((i) => i.status === "terminated") ? true : undefined), { what: "no instance left running", timeoutMs: 60_000, intervalMs: 200 });
}

describe("the offline cap without a durable store", () => {
  it("hours cap, keep-data: the run stops with its checkpoint, billing is withheld, the returning client saves the outputs", async () => {
    const r = await runCase({ cap: "hours", store: "none", choice: "keep-data" });
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push none", "billing withheld"]);
    expect(r.outcome).toMatchObject({ outputs: "on-machine", billing: "withheld" });
    await checkpointSaved(r.m);
    expect(r.m.emu.inspect()[0]!.status).toBe("active");
    await returningClientSavesAndEnds(r.m);
  }, 240_000);

  it("dollars cap, stop-billing: checkpoint, billing ended at the cap, the loss recorded", async () => {
    const r = await runCase({ cap: "usd", store: "none", choice: "stop-billing" });
    expect(order(r.outcome)).toEqual(["deadline reached", "checkpoint exited", "push none", "outputs lost", "billing ended"]);
    expect(r.outcome).toMatchObject({ outputs: "lost", billing: "ended" });
    await checkpointSaved(r.m);
    await terminatedAndBilled(r.m, capUsdOf(r));
  }, 240_000);

  it("neither a store, a cloud-side stop nor on_cap_offline: the plan refuses and no watchdog can be built", () => {
    const spec = jobSpecSchema.parse({ name: "x", resources: { providers: ["lambda"], min_vram_gb: 10 }, budget: { max_usd: 5 }, workload: { type: "command", run: ["true"] } });
    expect(capGuarantee(spec, lambdaDescriptor)).toMatchObject({ holds: "undecided", refusal: expect.stringContaining("choose") });
    const build = () =>
      watchdogForJob({ spec, jobId: "j-1", runDir: "r", watchdogDir: "w", outputsDir: "o", secondsUntilCap: 100, graceS: 5, capabilities: lambdaDescriptor.cap });
    expect(build).toThrow(UserError);
    expect(build).toThrow(/budget\.on_cap_offline/);
  });
});

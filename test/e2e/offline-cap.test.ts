// The cap with the client gone, through the real driver: a Lambda-emulator machine (a loopback sshd), the
// driver SIGKILLed once training runs (the laptop is gone), and the on-machine watchdog alone at the cap.
// - with a durable store (moto's S3 on loopback, IAM on): checkpoint → push + sha256 verify → billing ended;
//   `kiln status --refresh` then fetches the outputs from the store, verified; 0 orphans; spend ≤ cap + a tick;
//   the same with GCS (Kiln's emulator, src/core/artifact-store/testing/gcs.ts) and two upload sessions opened for the job's archive (no token on the machine);
// - the cap in dollars (no max_hours), with the S3 store: the watchdog fires at max_usd ÷ the machine's price,
//   pushes and verifies, then ends billing; the provider's bill ≤ max_usd + one polling interval's worth
//   (~15 min of waiting: it runs where KILN_LONG_CAP=1, as bench/crash_matrix.ts sets);
// - with no store and `stop-billing`: billing ends at the cap (outputs not pulled are lost, as the spec chose);
// - with no store and `keep-data`: the run is stopped with a checkpoint, the machine is kept until a client
//   saves the outputs (`kiln status --refresh` pulls and verifies them, then terminates).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { pollUntil } from "../../src/base/deadline.js";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { storeCredentialsFromEnv, storeLocation, verifyDurableCopy } from "../../src/core/artifact-store/index.js";
import { type GcsEmulator, startGcsEmulator } from "../../src/core/artifact-store/testing/gcs.js";
import { type MotoStore, startMotoStore } from "../../src/core/artifact-store/testing/moto.js";
import { type CloudHarness, cloudTestEnv, type HarnessOptions, inLedger, removeTestHomes, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { artifactStoreSchema } from "../../src/core/spec/artifact-store.js";
import { DEFAULT_INSTANCE_TYPES } from "../../src/providers/lambda/emulator/config.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";

// The AWS SDK warns on load that its 2027 releases need Node 22; this process loads it in-process (reconcile).
process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
// The watchdog fires at cap − grace (3 s) − push allowance (5 s) − 30 s kept for ending billing: a cap of 60 s
// lets the run train for ~20 s first, so the test shows the wait, not an immediate stop.
const CAP_S = 60;
const RESERVED_S = 3 + 5 + 30;
// The dollars cap runs on one instance type, so its price (and so the cap in seconds) is known before the plan.
const A10 = DEFAULT_INSTANCE_TYPES.find((t) => t.name === "gpu_1x_a10")!;
const A10_PER_HOUR = A10.price_cents_per_hour / 100;
/** What this file reads of `kiln plan --json`: the options considered, the chosen one marked. */
const PlanJson = z.object({ considered: z.array(z.object({ label: z.string(), costUsd: z.number(), chosen: z.boolean().optional() })) });
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness | undefined;
let moto: MotoStore | undefined;
let motoSkip: string | undefined;
let gcs: GcsEmulator | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-offline-cap-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  base = await cloudTestEnv({ KILN_STOP_GRACE_MS: "3000", KILN_PUSH_ALLOWANCE_S: "5", KILN_PROVIDER_POLL_MS: "500", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" });
  const m = await startMotoStore();
  if ("skip" in m) motoSkip = m.skip;
  else moto = m;
}, 120_000);
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});
afterAll(async () => {
  await moto?.close();
  await gcs?.close();
  removeTestHomes(dir);
});

function spec(name: string, budget: string, store: boolean | "gcs", resources = ""): string {
  const p = join(dir, `${name}.yaml`);
  const artifacts = store === "gcs" ? `artifacts:\n  store: { url: "gs://kiln-e2e/runs", endpoint_url: "${gcs!.url}", access_token_env: GCS_TOKEN }\n` : store ? `artifacts:\n  store: { url: "s3://${moto!.bucket}/${moto!.prefix}", endpoint_url: "${moto!.url}", region: ${moto!.region}, access_key_id_env: STORE_KEY, secret_access_key_env: STORE_SECRET }\n` : "";
  writeFileSync(p, `name: ${name}\n${resources}budget: { ${budget} }\n${artifacts}workload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960 }\n`);
  return p;
}

async function kiln(home: string, argv: string[], extra: NodeJS.ProcessEnv = {}) {
  const io = captureIo();
  const env = { ...base, KILN_HOME: home, ...cloud?.env, ...(moto && { STORE_KEY: moto.writer.id, STORE_SECRET: moto.writer.secret }), ...(gcs && { GCS_TOKEN: gcs.adminToken }), ...extra };
  const code = await main(argv, io, { env, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

/** Start a job whose driver dies once training runs; the watchdog is then alone with the cap. */
async function orphanedAtCap(name: string, budget: string, store: boolean | "gcs", harness: HarnessOptions = {}): Promise<{ home: string; id: string }> {
  cloud = await startCloudHarness({ machineEnv: { FAKE_STEPS: "100000", FAKE_STEP_MS: "100" }, ...harness });
  const home = join(dir, `k-${name}`);
  const r = await kiln(home, ["run", spec(name, budget, store), "--provider", "lambda"], { KILN_CRASH_AT: "during-training" });
  expect(r.code).toBe(1);
  const id = /started \S+ \((\S+)\)/.exec(r.out)![1]!;
  return { home, id };
}

describe.skipIf(!sshdAvailable)("the cap with the client gone (driver killed; emulator + loopback sshd)", () => {
  it("with a durable store: the watchdog checkpoints, pushes and verifies, then ends billing; the next client fetches the outputs from the store", async (ctx) => {
    if (motoSkip !== undefined) ctx.skip(`moto could not start: ${motoSkip}`);
    const { home, id } = await orphanedAtCap("stored", `max_usd: 100, max_hours: ${CAP_S / 3600}`, true);
    // Nobody answers: the watchdog alone ends billing.
    const [inst] = cloud!.emu.inspect();
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: 120_000, intervalMs: 250 });
    const billed = cloud!.emu.inspect().find((i) => i.id === inst!.id)!;
    // Spend ≤ cap + one polling interval: billed seconds from launch, no boot allowance. And not before the
    // watchdog's deadline: it waited for the cap, it did not stop at once.
    expect(billed.billedSeconds).toBeLessThanOrEqual(CAP_S + 1);
    expect(billed.billedSeconds).toBeGreaterThanOrEqual(CAP_S - RESERVED_S);
    const refresh = await kiln(home, ["status", "--refresh"]);
    expect(refresh.code).toBe(0);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.listEvents(id, { kind: "salvage" }).map((e) => e.reason)).toEqual([expect.stringMatching(/^fetched \d+ files .* from the durable store s3:\/\/.*, verified against its manifest$/)]);
      expect(l.listEvents(id, { kind: "alert" })).toEqual([]);
    });
    // The checkpoint the engine wrote at the watchdog's SIGTERM is here, from the store.
    const metrics = readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8");
    expect(metrics).toMatch(/"reason": "sigterm"/);
    expect(existsSync(join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json"))).toBe(true);
  }, 240_000);

  it("with GCS as the store: the watchdog pushes through its upload sessions and verifies, then ends billing; the next client fetches from GCS", async () => {
    gcs = await startGcsEmulator({ buckets: ["kiln-e2e"] });
    const { home, id } = await orphanedAtCap("gcs", `max_usd: 100, max_hours: ${CAP_S / 3600}`, "gcs");
    const [inst] = cloud!.emu.inspect();
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: 120_000, intervalMs: 250 });
    const billed = cloud!.emu.inspect().find((i) => i.id === inst!.id)!;
    expect(billed.billedSeconds).toBeLessThanOrEqual(CAP_S + 1);
    expect(billed.billedSeconds).toBeGreaterThanOrEqual(CAP_S - RESERVED_S);
    // Everything the machine wrote is under the job's own prefix, the manifest among it.
    expect(gcs.names("kiln-e2e")).toContain(`runs/${id}/manifest.json`);
    expect(gcs.names("kiln-e2e").every((n) => n.startsWith(`runs/${id}/`))).toBe(true);
    expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.listEvents(id, { kind: "salvage" }).map((e) => e.reason)).toEqual([expect.stringMatching(/^fetched \d+ files .* from the durable store gs:\/\/kiln-e2e\/runs\/.*, verified against its manifest$/)]);
    });
    expect(readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8")).toMatch(/"reason": "sigterm"/);
  }, 240_000);

  // The plan refuses a budget under its estimate, and the estimate counts the machine's boot and setup (15 min
  // on Lambda, billed time in a real run): the smallest dollars cap `kiln run` accepts binds after ~15 min of
  // billed time, so this case waits that long. It runs where KILN_LONG_CAP=1 (bench/crash_matrix.ts sets it).
  it.skipIf(process.env["KILN_LONG_CAP"] !== "1")("the dollars cap with a durable store: the watchdog stops at max_usd, pushes and verifies, then ends billing; the bill is within the cap (KILN_LONG_CAP=1)", async (ctx) => {
    if (motoSkip !== undefined) ctx.skip(`moto could not start: ${motoSkip}`);
    cloud = await startCloudHarness({ instanceTypes: [A10] });
    // No max_hours: only the dollars can bind. The cap is the plan's own estimate, to the next 1/100 cent.
    const planned = await kiln(join(dir, "k-usd-plan"), ["plan", spec("usd-plan", "max_usd: 100", true, "resources: { providers: [lambda] }\n"), "--json"]);
    expect(planned.code).toBe(0);
    const chosen = PlanJson.parse(JSON.parse(planned.out)).considered.find((o) => o.chosen)!;
    expect(chosen.label).toBe(`lambda ${A10.name}`);
    const maxUsd = Math.ceil(chosen.costUsd * 1e4) / 1e4;
    const capS = (maxUsd / A10_PER_HOUR) * 3600;
    await cloud.close();
    const { home, id } = await orphanedAtCap("usd", `max_usd: ${maxUsd}`, true, { instanceTypes: [A10] });
    const [inst] = cloud!.emu.inspect();
    expect(inst!.instanceType).toBe(A10.name);
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: (capS + 300) * 1000, intervalMs: 1000 });
    // Spend ≤ cap + one polling interval (a second's worth, as the hours cases allow), in the provider's own
    // bill; and not before the watchdog's deadline.
    const billed = cloud!.emu.inspect().find((i) => i.id === inst!.id)!;
    expect(billed.costUsd).toBeLessThanOrEqual(maxUsd + A10_PER_HOUR / 3600);
    expect(billed.costUsd).toBeGreaterThanOrEqual((A10_PER_HOUR * (capS - RESERVED_S)) / 3600);
    // Durable before the client is back: the store's manifest, and every file it lists, read back by the account's admin.
    const store = artifactStoreSchema.parse({ url: `s3://${moto!.bucket}/${moto!.prefix}`, endpoint_url: moto!.url, region: moto!.region, access_key_id_env: "STORE_KEY", secret_access_key_env: "STORE_SECRET" });
    const copy = await verifyDurableCopy({ location: storeLocation(store, id), credentials: storeCredentialsFromEnv(store, { STORE_KEY: moto!.admin.id, STORE_SECRET: moto!.admin.secret }) });
    expect(copy).toMatchObject({ ok: true, missing: [], mismatched: [] });
    expect(copy.manifest!.map((e) => e.path)).toContain("sae/checkpoints/latest.json");
    const refresh = await kiln(home, ["status", "--refresh"]);
    expect(refresh.code).toBe(0);
    expect(cloud!.live()).toEqual([]);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.listEvents(id, { kind: "salvage" }).map((e) => e.reason)).toEqual([expect.stringMatching(/^fetched \d+ files .* from the durable store s3:\/\/.*, verified against its manifest$/)]);
      expect(l.listEvents(id, { kind: "alert" })).toEqual([]);
      expect(l.listArtifacts(id).map((a) => a.path)).toContain("sae/checkpoints/latest.json");
      expect(l.listArtifacts(id).every((a) => a.verified_at !== null)).toBe(true);
    });
    expect(readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8")).toMatch(/"reason": "sigterm"/);
    expect(existsSync(join(home, "jobs", id, "outputs", "sae", "checkpoints", "latest.json"))).toBe(true);
  }, 1_800_000);

  it("with no store and stop-billing: billing ends at the cap, as the spec chose", async () => {
    const { home, id } = await orphanedAtCap("stopbill", `max_usd: 100, max_hours: ${CAP_S / 3600}, on_cap_offline: stop-billing`, false);
    const [inst] = cloud!.emu.inspect();
    await pollUntil(async () => (cloud!.live().length === 0 ? true : undefined), { what: "the watchdog to end billing", timeoutMs: 120_000, intervalMs: 250 });
    const billed = cloud!.emu.inspect().find((i) => i.id === inst!.id)!.billedSeconds;
    expect(billed).toBeLessThanOrEqual(CAP_S + 1);
    expect(billed).toBeGreaterThanOrEqual(CAP_S - RESERVED_S);
    expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
    inLedger(home, (l) => expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]));
  }, 240_000);

  it("with no store and keep-data: the run is stopped with a checkpoint, the machine kept until a client saves the outputs", async () => {
    const { home, id } = await orphanedAtCap("keep", `max_usd: 100, max_hours: ${CAP_S / 3600}, on_cap_offline: keep-data`, false);
    const [inst] = cloud!.emu.inspect();
    const onMachine = join(cloud!.homeOf(inst!.id)!, "kiln", "jobs", id, "job", "outputs", "sae", "metrics.jsonl");
    await pollUntil(async () => (/"reason": "sigterm"/.test(readFileSync(onMachine, "utf8")) ? true : undefined), { what: "the watchdog to stop the run", timeoutMs: 120_000, intervalMs: 250 });
    // Kept: still running (and billing) for a client to save the outputs.
    expect(cloud!.live().map((i) => i.id)).toEqual([inst!.id]);
    expect((await kiln(home, ["status", "--refresh"])).code).toBe(0);
    expect(cloud!.live()).toEqual([]);
    inLedger(home, (l) => {
      expect(l.listMachines(id).map((m) => m.state)).toEqual(["terminated"]);
      expect(l.listEvents(id, { kind: "salvage" })).toHaveLength(1);
    });
    expect(readFileSync(join(home, "jobs", id, "outputs", "sae", "metrics.jsonl"), "utf8")).toMatch(/"reason": "sigterm"/);
  }, 240_000);

  it("kiln run refuses a cloud job that leaves the offline cap undecided, before anything launches", async () => {
    cloud = await startCloudHarness();
    const home = join(dir, "k-undecided");
    const r = await kiln(home, ["run", spec("undecided", "max_usd: 5", false), "--provider", "lambda"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/on_cap_offline/);
    expect(cloud.emu.inspect()).toEqual([]);
  }, 60_000);
});

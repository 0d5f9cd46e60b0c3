// Renewing the watchdog's temporary store credentials while the client is here, against moto's STS and
// S3 on loopback (IAM on): the file on the "machine" (a local directory through localExec) is replaced
// with credentials minted for what the cap has left, the renewal is in the ledger, and the machine-side
// push works with the renewed file.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localExec } from "../../remote/exec.js";
import { Ledger } from "../../store/index.js";
import { storeCredentialsForJob, storeLocation } from "../artifact-store/index.js";
import { type MotoStore, startMotoStore } from "../artifact-store/testing/moto.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { replaceStoreConfig, type WatchdogSpec } from "../watchdog/index.js";
import type { Attempt } from "./attempt-context.js";
import { renewStoreCredentials } from "./store-renewal.js";

const PUSH = resolve(import.meta.dirname, "..", "..", "..", "workload", "kiln_sae", "store_push.py");
const PYTHON = resolve(import.meta.dirname, "..", "..", "..", ".venv", "bin", "python");
let moto: MotoStore | undefined;
let skip: string | undefined;
let dir: string;
beforeAll(async () => {
  const m = await startMotoStore();
  if ("skip" in m) skip = m.skip;
  else moto = m;
  dir = mkdtempSync(join(tmpdir(), "kiln-renew-"));
}, 200_000);
afterAll(async () => {
  await moto?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function attemptWithStore(env: NodeJS.ProcessEnv) {
  const m = moto!;
  const spec = jobSpecSchema.parse({
    name: "renew",
    budget: { max_usd: 1000, max_hours: 24, on_cap_offline: "keep-data" },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: `s3://${m.bucket}/${m.prefix}`, endpoint_url: m.url, region: m.region, access_key_id_env: "K", secret_access_key_env: "S", role_arn: m.role_arn } },
  });
  const store = spec.artifacts.store!;
  const ledger = Ledger.open(":memory:");
  ledger.createJob({ id: "j-renew", name: "renew", kind: "command", specYaml: "", jobDir: dir });
  const attempt = ledger.startAttempt("j-renew", "toy");
  const row = ledger.recordMachineIntent({ intentId: "i-renew", jobId: "j-renew", attemptId: attempt.id, provider: "toy", offer: {}, pricePerHour: 1 });
  ledger.markMachineLaunched(row.id, "p-renew", "running");
  const location = storeLocation(store, "j-renew");
  // Minted for AWS's shortest session: due for renewal at once.
  const first = await storeCredentialsForJob({ store, location, env, validForS: 900, sessionName: "kiln-j-renew" });
  if (first.kind !== "s3") throw new Error("expected S3 credentials");
  const wdir = join(dir, "watchdog");
  mkdirSync(join(wdir, "private"), { recursive: true, mode: 0o700 });
  await replaceStoreConfig(localExec, wdir, { location, credentials: first });
  const watchdog: WatchdogSpec = { dir: wdir, name: "wd", runDir: join(dir, "run"), remainingS: 3600, graceS: 1, push: { python: "python3", outputsDir: join(dir, "out"), config: { location, credentials: first }, timeoutS: 60, retryS: 1, keepForS: 1 } };
  const a = {
    id: attempt.id,
    conn: localExec,
    row: ledger.getMachine(row.id),
    watchdog,
    job: { spec, ledger, o: { env }, c: { jobId: "j-renew", budget: { maxUsd: 1000, maxHours: 24, alertFractions: [] }, pollMs: 1000 } },
  } as unknown as Attempt;
  return { a, ledger, first, file: join(wdir, "private", "store.json") };
}

describe("renewing the watchdog's store credentials", () => {
  it("replaces the machine's store.json with credentials for what the cap has left, and the push uses them", async (ctx) => {
    if (skip !== undefined) ctx.skip(`moto could not start: ${skip}`);
    const env = { K: moto!.admin.id, S: moto!.admin.secret };
    const { a, ledger, first, file } = await attemptWithStore(env);
    const before = JSON.parse(readFileSync(file, "utf8")) as { session_token: string };
    expect(before.session_token).toBe(first.sessionToken!.reveal());
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000))).toBe(true);
    const after = JSON.parse(readFileSync(file, "utf8")) as { session_token: string; access_key_id: string };
    expect(after.session_token).not.toBe(before.session_token);
    const renewed = a.watchdog!.push!.config.credentials;
    expect(renewed.kind === "s3" && renewed.accessKeyId).toBe(after.access_key_id);
    // 24 h of cap left: the new session is AWS's longest, 12 h (the old one had 15 min).
    expect(a.watchdog!.push!.config.credentials.expiresAtMs! - first.expiresAtMs!).toBeGreaterThan(11 * 3600 * 1000);
    expect(ledger.listEvents("j-renew").some((e) => e.kind === "store_credentials_renewed")).toBe(true);
    // Fresh credentials are not renewed again.
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000))).toBe(false);
    // The machine-side push works with the renewed file.
    const out = join(dir, "out");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "sae.bin"), "weights\n");
    const r = spawnSync(PYTHON, [PUSH, "--config", file, "--outputs", out, "--result", join(dir, "push.json"), "--timeout-s", "60"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "push.json"), "utf8"))).toMatchObject({ ok: true, files: 1 });
  }, 120_000);
});

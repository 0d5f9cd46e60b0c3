// Renewing the watchdog's GCS token while the client is here, against Kiln's GCS emulator (STS and the JSON
// API): the token lives an hour at most, so it is left alone until 20 minutes are left, then the file on the
// "machine" (a local directory through localExec) is replaced with a fresh downscoped token, the renewal is
// in the ledger, and the machine-side push works with the renewed file after the first token has expired.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localExec } from "../../remote/exec.js";
import { Ledger } from "../../store/index.js";
import { storeCredentialsForJob, storeLocation } from "../artifact-store/index.js";
import { type GcsEmulator, startGcsEmulator } from "../artifact-store/testing/gcs.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { replaceStoreConfig, type WatchdogSpec } from "../watchdog/index.js";
import type { Attempt } from "./attempt-context.js";
import { renewStoreCredentials } from "./store-renewal.js";

const PUSH = resolve(import.meta.dirname, "..", "..", "..", "workload", "kiln_sae", "store_push.py");
let emu: GcsEmulator;
let dir: string;
beforeAll(async () => {
  emu = await startGcsEmulator({ buckets: ["kiln-renew"] });
  dir = mkdtempSync(join(tmpdir(), "kiln-renew-gcs-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

async function attemptWithGcsStore() {
  const spec = jobSpecSchema.parse({
    name: "renew",
    budget: { max_usd: 1000, max_hours: 24, on_cap_offline: "keep-data" },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: "gs://kiln-renew/runs", endpoint_url: emu.url, access_token_env: "GCS_TOKEN" } },
  });
  const store = spec.artifacts.store!;
  const env = { GCS_TOKEN: emu.adminToken };
  const ledger = Ledger.open(":memory:");
  ledger.createJob({ id: "j-renew", name: "renew", kind: "command", specYaml: "", jobDir: dir });
  const attempt = ledger.startAttempt("j-renew", "toy");
  const row = ledger.recordMachineIntent({ intentId: "i-renew", jobId: "j-renew", attemptId: attempt.id, provider: "toy", offer: {}, pricePerHour: 1 });
  ledger.markMachineLaunched(row.id, "p-renew", "running");
  const location = storeLocation(store, "j-renew");
  const first = await storeCredentialsForJob({ store, location, env, validForS: 3600, sessionName: "kiln-j-renew" });
  if (first.kind !== "gcs-token") throw new Error("expected a GCS token");
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

describe("renewing the watchdog's GCS token", () => {
  it("leaves a fresh token alone, renews it with 20 minutes left, and the push works with the renewed one", async () => {
    const { a, ledger, first, file } = await attemptWithGcsStore();
    // Just minted (an hour left): not due.
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000))).toBe(false);
    // 15 minutes before it expires: due.
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000), first.expiresAtMs! - 15 * 60_000)).toBe(true);
    const after = JSON.parse(readFileSync(file, "utf8")) as { kind: string; token: string };
    expect(after.kind).toBe("gcs");
    expect(after.token).not.toBe(first.token.reveal());
    expect(a.watchdog!.push!.config.credentials).toMatchObject({ kind: "gcs-token", scope: "downscoped" });
    expect(ledger.listEvents("j-renew").some((e) => e.kind === "store_credentials_renewed")).toBe(true);
    // The first token runs out; the machine's file holds the renewed one, and the push goes through.
    emu.expire(first.token.reveal());
    const out = join(dir, "out");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "sae.bin"), "weights\n");
    const code = await new Promise<number | null>((res) => {
      const child = execFile("python3", [PUSH, "--config", file, "--outputs", out, "--result", join(dir, "push.json"), "--timeout-s", "60"], () => res(child.exitCode));
    });
    expect(code, readFileSync(join(dir, "push.json"), "utf8")).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "push.json"), "utf8"))).toMatchObject({ ok: true, files: 1, store: "gs://kiln-renew/runs/j-renew" });
  }, 120_000);
});

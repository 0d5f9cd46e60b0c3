// Renewing the watchdog's GCS upload sessions while the client is here, against Kiln's GCS emulator: they
// last a week, so they are left alone until less than two hours are left, then the file on the "machine" (a
// local directory through localExec) is replaced with fresh sessions, the renewal is in the ledger, and the
// machine-side push works with the renewed file after the first sessions are gone and the user's token too.
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
    budget: { max_usd: 100_000, max_hours: 1000, on_cap_offline: "keep-data" },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: "gs://kiln-renew/runs", endpoint_url: emu.url, access_token_env: "GCS_TOKEN" } },
  });
  const store = spec.artifacts.store!;
  const env = { GCS_TOKEN: emu.addToken({ expiresInS: 3600, serviceAccount: false }) };
  const ledger = Ledger.open(":memory:");
  ledger.createJob({ id: "j-renew", name: "renew", kind: "command", specYaml: "", jobDir: dir });
  const attempt = ledger.startAttempt("j-renew", "toy");
  const row = ledger.recordMachineIntent({ intentId: "i-renew", jobId: "j-renew", attemptId: attempt.id, provider: "toy", offer: {}, pricePerHour: 1 });
  ledger.markMachineLaunched(row.id, "p-renew", "running");
  const location = storeLocation(store, "j-renew");
  const first = await storeCredentialsForJob({ store, location, env, validForS: 3600, sessionName: "kiln-j-renew" });
  if (first.kind !== "gcs-sessions") throw new Error("expected GCS upload sessions");
  const wdir = join(dir, "watchdog");
  mkdirSync(join(wdir, "private"), { recursive: true, mode: 0o700 });
  await replaceStoreConfig(localExec, wdir, { location, credentials: first });
  const watchdog: WatchdogSpec = { dir: wdir, name: "wd", runDir: join(dir, "run"), remainingS: 3600, graceS: 1, push: { python: "python3", outputsDir: join(dir, "out"), config: { location, credentials: first }, timeoutS: 60, retryS: 1, keepForS: 1 } };
  const a = {
    id: attempt.id,
    conn: localExec,
    row: ledger.getMachine(row.id),
    watchdog,
    job: { spec, ledger, o: { env }, c: { jobId: "j-renew", budget: { maxUsd: 100_000, maxHours: 1000, alertFractions: [] }, pollMs: 1000 } },
  } as unknown as Attempt;
  return { a, ledger, first, token: env.GCS_TOKEN, file: join(wdir, "private", "store.json") };
}

describe("renewing the watchdog's GCS upload sessions", () => {
  it("leaves fresh sessions alone, opens new ones with under two hours left, and the push works with those", async () => {
    const { a, ledger, first, token, file } = await attemptWithGcsStore();
    // Just opened (a week left): not due, nor a day before the end.
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000))).toBe(false);
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000), first.expiresAtMs - 24 * 3600_000)).toBe(false);
    // An hour before they end: due.
    expect(await renewStoreCredentials(a, AbortSignal.timeout(60_000), first.expiresAtMs - 3600_000)).toBe(true);
    const after = JSON.parse(readFileSync(file, "utf8")) as { kind: string; sessions: Record<string, string> };
    expect(after.kind).toBe("gcs");
    expect(after.sessions["outputs.tar"]).not.toBe(first.archive.reveal());
    expect(a.watchdog!.push!.config.credentials).toMatchObject({ kind: "gcs-sessions" });
    expect(ledger.listEvents("j-renew").some((e) => e.kind === "store_credentials_renewed")).toBe(true);
    // The first sessions are a week old and gone, and so is the user's token; the renewed file still pushes.
    emu.ageSessions(7 * 24 * 3600_000, [first.archive.reveal(), first.manifest.reveal()]);
    emu.expire(token);
    const refresh = await fetch(first.archive.reveal(), { method: "PUT", headers: { "content-range": "bytes */*" } });
    expect(refresh.status).toBe(404);
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

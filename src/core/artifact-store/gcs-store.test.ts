// Google Cloud Storage as the durable store, against Kiln's GCS emulator (./testing/gcs.ts: the JSON API
// subset and Google's STS token exchange, enforcing the Credential Access Boundary), every request and reply
// checked against Google's storage v1 discovery document. Kiln downscopes the user's token to the job's
// prefix; that token cannot write, read or list outside it, nor overwrite; the machine-side module pushes
// with it (a resumable upload above the threshold, resumed after a failed chunk); the client verifies and
// fetches; a damaged object is caught by its sha256; a token that cannot read is a UserError naming the fix.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import { localManifest } from "../../remote/sync/manifest.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { pushModulePath } from "../watchdog/index.js";
import { gcsObjectUrl } from "./gcs-reader.js";
import { jobAccessBoundary } from "./gcs-token.js";
import { type GcsLocation, fetchFromStore, storeCredentialsForJob, storeCredentialsForReading, storeLocation, storePushConfigJson, verifyDurableCopy } from "./index.js";
import { type GcsEmulator, startGcsEmulator } from "./testing/gcs.js";
import { gcsDiscoveryChecker } from "./testing/gcs-discovery.js";

const BUCKET = "kiln-store";
let emu: GcsEmulator;
let check: ReturnType<typeof gcsDiscoveryChecker>;
let dir: string;
beforeAll(async () => {
  check = gcsDiscoveryChecker();
  emu = await startGcsEmulator({ buckets: [BUCKET], onExchange: check.onExchange });
  dir = mkdtempSync(join(tmpdir(), "kiln-gcs-store-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  expect(check.violations).toEqual([]);
});

const storeSpec = () =>
  jobSpecSchema.parse({
    name: "j",
    budget: { max_usd: 1 },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: `gs://${BUCKET}/runs`, endpoint_url: emu.url, access_token_env: "GCS_TOKEN" } },
  }).artifacts.store!;
const env = (token = emu.adminToken) => ({ GCS_TOKEN: token });
const gcsLocation = (jobId: string) => storeLocation(storeSpec(), jobId) as GcsLocation;

/** Upload `body` as `name` with `token` (a simple media upload), as anything holding the token could. */
const upload = (token: string | undefined, name: string, body = "x") =>
  fetch(`${emu.url}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body, headers: { "content-type": "application/octet-stream", ...(token && { authorization: `Bearer ${token}` }) } });
const get = (token: string, name: string, media = true) => fetch(`${gcsObjectUrl(emu.url, BUCKET, name)}${media ? "?alt=media" : ""}`, { headers: { authorization: `Bearer ${token}` } });

/** The machine-side module, run as the watchdog runs it; asynchronously, since the emulator is in this process. */
async function runPush(jobId: string, out: string, config: string) {
  const code = await new Promise<number | null>((res) => {
    const child = execFile("python3", [pushModulePath(), "--config", config, "--outputs", out, "--result", join(dir, jobId, "result.json"), "--timeout-s", "60"], () => res(child.exitCode));
  });
  return { code, result: JSON.parse(readFileSync(join(dir, jobId, "result.json"), "utf8")) as { ok: boolean; error?: string; files?: number; store?: string } };
}

/** Push `files` for `jobId` with the machine-side module, as the watchdog does, with the token Kiln mints. */
async function pushed(jobId: string, files: Record<string, string | Buffer>, extra: Record<string, unknown> = {}) {
  const out = join(dir, jobId, "outputs");
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(out, p, ".."), { recursive: true });
    writeFileSync(join(out, p), body);
  }
  const location = gcsLocation(jobId);
  const credentials = await storeCredentialsForJob({ store: storeSpec(), location, env: env(), validForS: 3600, sessionName: jobId });
  const config = join(dir, jobId, "store.json");
  writeFileSync(config, JSON.stringify({ ...JSON.parse(storePushConfigJson({ location, credentials })), ...extra }), { mode: 0o600 });
  return { out, location, credentials, config, ...(await runPush(jobId, out, config)) };
}

describe("GCS as the durable store (Kiln's GCS emulator)", () => {
  it("downscopes the token to the job's prefix: create and read there; nothing outside it, no list, no overwrite", async () => {
    const location = gcsLocation("j-1");
    expect(location).toMatchObject({ kind: "gcs", bucket: BUCKET, keyPrefix: "runs/j-1", endpoint: emu.url, stsEndpoint: `${emu.url}/v1/token`, url: `gs://${BUCKET}/runs/j-1` });
    expect(jobAccessBoundary(location)).toEqual({
      accessBoundary: {
        accessBoundaryRules: [
          {
            availableResource: `//storage.googleapis.com/projects/_/buckets/${BUCKET}`,
            availablePermissions: ["inRole:roles/storage.objectCreator", "inRole:roles/storage.objectViewer"],
            availabilityCondition: { title: "kiln-job-prefix", expression: `resource.name.startsWith('projects/_/buckets/${BUCKET}/objects/runs/j-1/')` },
          },
        ],
      },
    });
    const before = Date.now();
    const c = await storeCredentialsForJob({ store: storeSpec(), location, env: env(), validForS: 3600, sessionName: "j-1" });
    if (c.kind !== "gcs-token") throw new Error("expected a GCS token");
    expect(c.scope).toBe("downscoped");
    expect(c.token.reveal()).not.toBe(emu.adminToken);
    // A service account's source token: STS says how long (its hour); never longer.
    expect(c.expiresAtMs).toBeGreaterThan(before);
    expect(c.expiresAtMs).toBeLessThanOrEqual(Date.now() + 3600_000);
    const t = c.token.reveal();
    expect((await upload(t, "runs/j-1/outputs/a.txt")).status).toBe(200);
    expect(await (await get(t, "runs/j-1/outputs/a.txt")).text()).toBe("x");
    // Outside the prefix: another job (also one whose id starts the same), the spec's prefix, the bucket's root.
    for (const name of ["runs/j-2/outputs/a.txt", "runs/j-10/outputs/a.txt", "runs/j-1", "runs/x.txt", "x.txt"]) {
      const r = await upload(t, name);
      expect(r.status, name).toBe(403);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/storage\.objects\.create/);
    }
    expect((await upload(emu.adminToken, "runs/j-2/outputs/a.txt")).status).toBe(200);
    expect((await get(t, "runs/j-2/outputs/a.txt")).status).toBe(403);
    expect((await fetch(`${emu.url}/storage/v1/b/${BUCKET}/o?prefix=runs/j-1/`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(403);
    // Creating is not overwriting: GCS needs storage.objects.delete for that, which the token lacks.
    expect((await upload(t, "runs/j-1/outputs/a.txt", "y")).status).toBe(403);
    // No token, or one that is not a live token: refused before any rights are looked at.
    expect((await upload(undefined, "runs/j-1/outputs/b.txt")).status).toBe(401);
    expect((await upload("ya29.forged", "runs/j-1/outputs/b.txt")).status).toBe(401);
    emu.expire(t);
    expect((await upload(t, "runs/j-1/outputs/b.txt")).status).toBe(401);
    expect(check.exercised).toEqual(new Set(["sts.token", "storage.objects.insert#media", "storage.objects.get#media", "storage.objects.list"]));
  });

  it("gives a user's token (STS answers no expires_in) the source's hour at most, and refuses an expired source as the user's error", async () => {
    const user = emu.addToken({ expiresInS: 3600, serviceAccount: false });
    const c = await storeCredentialsForJob({ store: storeSpec(), location: gcsLocation("j-user"), env: env(user), validForS: 3600, sessionName: "j-user" });
    expect(c).toMatchObject({ kind: "gcs-token", scope: "downscoped" });
    expect(c.expiresAtMs).toBeLessThanOrEqual(Date.now() + 3600_000);
    emu.expire(user);
    const refused = storeCredentialsForJob({ store: storeSpec(), location: gcsLocation("j-user"), env: env(user), validForS: 3600, sessionName: "j-user" });
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow(/STS refused to downscope the token .* \(invalid_grant/);
    await expect(storeCredentialsForJob({ store: storeSpec(), location: gcsLocation("j-user"), env: {}, validForS: 3600, sessionName: "j-user" })).rejects.toThrow(/access_token_env: the environment variable GCS_TOKEN is not set/);
  });

  it("takes the source token from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS in Kiln's env), as the GCP provider does", async () => {
    // An external_account credential file (workload identity federation): google-auth-library exchanges the
    // file's JWT at the file's token_url, here the emulator's STS, so the ADC path runs without Google.
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJraWxuLXRlc3QifQ.c2ln";
    emu.addFederatedSubject(jwt);
    writeFileSync(join(dir, "subject.jwt"), jwt);
    const adc = join(dir, "adc.json");
    writeFileSync(adc, JSON.stringify({ type: "external_account", audience: "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/kiln/providers/test", subject_token_type: "urn:ietf:params:oauth:token-type:jwt", token_url: `${emu.url}/v1/token`, credential_source: { file: join(dir, "subject.jwt") } }));
    const store = jobSpecSchema.parse({ name: "j", budget: { max_usd: 1 }, workload: { type: "command", run: ["true"] }, artifacts: { store: { url: `gs://${BUCKET}/runs`, endpoint_url: emu.url } } }).artifacts.store!;
    const location = storeLocation(store, "j-adc");
    const c = await storeCredentialsForJob({ store, location, env: { GOOGLE_APPLICATION_CREDENTIALS: adc }, validForS: 3600, sessionName: "j-adc" });
    expect(c).toMatchObject({ kind: "gcs-token", scope: "downscoped" });
    const t = c.kind === "gcs-token" ? c.token.reveal() : "";
    expect((await upload(t, "runs/j-adc/outputs/a.txt")).status).toBe(200);
    expect((await upload(t, "runs/j-other/outputs/a.txt")).status).toBe(403);
    // ADC that cannot produce a token is the user's to fix, with the commands that do.
    writeFileSync(join(dir, "subject.jwt"), "not-trusted");
    const refused = storeCredentialsForJob({ store, location: storeLocation(store, "j-adc2"), env: { GOOGLE_APPLICATION_CREDENTIALS: adc }, validForS: 3600, sessionName: "j-adc2" });
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow(/no Google credentials for gs:\/\/kiln-store\/runs/);
  });

  it("pushes with the downscoped token (resumable above the threshold, resumed after a failed chunk), then verifies and fetches", async () => {
    const big = Buffer.alloc(3 * 256 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    emu.failChunks(1);
    const p = await pushed("j-gcs", { "metrics.jsonl": '{"step": 1}\n', "sae/weights.bin": big, "odd name ü.txt": "x\n" }, { multipart_threshold: 256 * 1024, part_size: 256 * 1024 });
    expect(p.code, p.result.error).toBe(0);
    expect(p.result).toMatchObject({ ok: true, files: 3, store: `gs://${BUCKET}/runs/j-gcs` });
    expect(emu.chunkFaultsLeft()).toBe(0);
    expect(emu.object(BUCKET, "runs/j-gcs/outputs/sae/weights.bin")?.equals(big)).toBe(true);
    expect(emu.names(BUCKET).filter((n) => n.startsWith("runs/j-gcs/"))).toEqual(["runs/j-gcs/manifest.json", "runs/j-gcs/outputs/metrics.jsonl", "runs/j-gcs/outputs/odd name ü.txt", "runs/j-gcs/outputs/sae/weights.bin"]);
    for (const id of ["storage.objects.insert#media", "storage.objects.insert#resumable", "storage.objects.insert#resumable-chunk", "storage.objects.get", "storage.objects.get#media"]) expect(check.exercised, id).toContain(id);
    const reader = await storeCredentialsForReading(storeSpec(), p.location, env());
    expect(reader).toMatchObject({ kind: "gcs-token", scope: "as-given" });
    const check2 = await verifyDurableCopy({ location: p.location, credentials: reader });
    expect(check2).toMatchObject({ ok: true, verified: 3, missing: [], mismatched: [] });
    const local = join(dir, "j-gcs", "fetched");
    const got = await fetchFromStore({ location: p.location, credentials: reader, localDir: local });
    expect(got.bytes).toBe(big.length + 12 + 2);
    expect(await localManifest(local)).toEqual(await localManifest(p.out));
    expect(createHash("sha256").update(readFileSync(join(local, "sae", "weights.bin"))).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
    // A retried push (the watchdog retries until a client returns) keeps what is already stored whole.
    const again = await runPush("j-gcs", p.out, p.config);
    expect(again.code, again.result.error).toBe(0);
  });

  it("a token for another job cannot push here; a damaged object is caught by its sha256; a token that cannot read is the user's error", async () => {
    const p = await pushed("j-gcs-bad", { "a.txt": "aaaa\n", "b.txt": "bbbb\n" });
    expect(p.code, p.result.error).toBe(0);
    // The machine of j-other holds a token for runs/j-other/ only.
    const other = await storeCredentialsForJob({ store: storeSpec(), location: gcsLocation("j-other"), env: env(), validForS: 3600, sessionName: "j-other" });
    const config = join(dir, "j-gcs-bad", "other.json");
    writeFileSync(config, storePushConfigJson({ location: gcsLocation("j-gcs-bad2"), credentials: other }), { mode: 0o600 });
    mkdirSync(join(dir, "j-gcs-bad2"), { recursive: true });
    const refused = await runPush("j-gcs-bad2", p.out, config);
    expect(refused.code).toBe(1);
    expect(refused.result.error).toMatch(/HTTP 403 .*storage\.objects\.get/);
    emu.tamper(BUCKET, "runs/j-gcs-bad/outputs/a.txt", Buffer.from("AAAA\n"));
    const reader = await storeCredentialsForReading(storeSpec(), p.location, env());
    const c = await verifyDurableCopy({ location: p.location, credentials: reader });
    expect(c.ok).toBe(false);
    expect(c.mismatched.map((m) => m.path)).toEqual(["a.txt"]);
    await expect(verifyDurableCopy({ location: p.location, credentials: { kind: "gcs-token", token: new Secret("ya29.expired"), scope: "as-given" } })).rejects.toThrow(UserError);
    const otherReads = verifyDurableCopy({ location: p.location, credentials: other });
    await expect(otherReads).rejects.toThrow(/refused to read runs\/j-gcs-bad\/manifest\.json \(The caller does not have storage\.objects\.get/);
  });
});

// Google Cloud Storage as the durable store, against Kiln's GCS emulator (./testing/gcs.ts: the JSON API
// subset, with resumable sessions that are their own credential and last a week), every request and reply
// checked against Google's storage v1 discovery document. The machine gets two upload sessions Kiln opens
// with the user's token (the archive layout's outputs.tar and manifest.json) and no token: each writes its
// own object and nothing else, and both outlive the user's hour-long token. The machine-side module streams
// the tar through them (parts, resumed after a failed one; a retry against a finished session checks GCS's
// md5); the client verifies and fetches; a damaged or hostile archive is caught; a token that cannot read is a
// UserError naming the fix.
import { execFile, execFileSync } from "node:child_process";
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
import { SESSION_LIFETIME_MS } from "./gcs-sessions.js";
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
  it("gives the machine two upload sessions and no token: each writes its own object only, and they outlive the user's token by a week", async () => {
    const location = gcsLocation("j-1");
    expect(location).toMatchObject({ kind: "gcs", bucket: BUCKET, keyPrefix: "runs/j-1", endpoint: emu.url, url: `gs://${BUCKET}/runs/j-1` });
    const user = emu.addToken({ expiresInS: 3600, serviceAccount: false });
    const before = Date.now();
    const c = await storeCredentialsForJob({ store: storeSpec(), location, env: env(user), validForS: 3600, sessionName: "j-1" });
    if (c.kind !== "gcs-sessions") throw new Error("expected GCS upload sessions");
    expect(c.expiresAtMs).toBeGreaterThan(before + SESSION_LIFETIME_MS - 2 * 3600_000);
    expect(c.expiresAtMs).toBeLessThan(Date.now() + SESSION_LIFETIME_MS);
    const config = JSON.parse(storePushConfigJson({ location, credentials: c })) as Record<string, unknown>;
    expect(Object.keys(config).sort()).toEqual(["bucket", "endpoint", "key_prefix", "kind", "sessions"]);
    expect(JSON.stringify(config)).not.toContain(user);
    // The user's token runs out (an hour at most): the sessions still take their objects' bytes, with no token.
    emu.expire(user);
    const put = (uri: string, body: string) => fetch(uri, { method: "PUT", body, headers: { "content-range": `bytes 0-${body.length - 1}/${body.length}` } });
    expect((await put(c.archive.reveal(), "tar")).status).toBe(200);
    expect(emu.object(BUCKET, "runs/j-1/outputs.tar")?.toString()).toBe("tar");
    // What it wrote is all it can write: the session names its object, a finished one only answers it.
    const again = await put(c.archive.reveal(), "other");
    expect(again.status).toBe(200);
    expect(((await again.json()) as { name: string; size: string })).toMatchObject({ name: "runs/j-1/outputs.tar", size: "3" });
    expect(emu.object(BUCKET, "runs/j-1/outputs.tar")?.toString()).toBe("tar");
    // Holding no token, the machine reads and lists nothing, and writes nothing by name.
    expect((await fetch(`${gcsObjectUrl(emu.url, BUCKET, "runs/j-1/outputs.tar")}?alt=media`)).status).toBe(401);
    expect((await fetch(`${emu.url}/storage/v1/b/${BUCKET}/o?prefix=runs/`)).status).toBe(401);
    expect((await upload(undefined, "runs/j-1/outputs/x.txt")).status).toBe(401);
    // A week on, the sessions are gone, as Google's are.
    emu.ageSessions(SESSION_LIFETIME_MS);
    expect((await put(c.manifest.reveal(), "{}")).status).toBe(404);
    expect(check.exercised).toContain("storage.objects.insert#resumable");
  });

  it("refuses a user's token that cannot open uploads as the user's error, naming the fix", async () => {
    const user = emu.addToken({ expiresInS: 3600, serviceAccount: false });
    emu.expire(user);
    const refused = storeCredentialsForJob({ store: storeSpec(), location: gcsLocation("j-user"), env: env(user), validForS: 3600, sessionName: "j-user" });
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow(/GCS refused to open an upload to gs:\/\/kiln-store\/runs\/j-user/);
    await expect(storeCredentialsForJob({ store: storeSpec(), location: gcsLocation("j-user"), env: {}, validForS: 3600, sessionName: "j-user" })).rejects.toThrow(/access_token_env: the environment variable GCS_TOKEN is not set/);
  });

  it("takes the user's token from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS in Kiln's env), as the GCP provider does", async () => {
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
    expect(c).toMatchObject({ kind: "gcs-sessions" });
    const uri = c.kind === "gcs-sessions" ? c.manifest.reveal() : "";
    expect((await fetch(uri, { method: "PUT", body: "{}", headers: { "content-range": "bytes 0-1/2" } })).status).toBe(200);
    expect(emu.object(BUCKET, "runs/j-adc/manifest.json")?.toString()).toBe("{}");
    // ADC that cannot produce a token is the user's to fix, with the commands that do.
    writeFileSync(join(dir, "subject.jwt"), "not-trusted");
    const refused = storeCredentialsForJob({ store, location: storeLocation(store, "j-adc2"), env: { GOOGLE_APPLICATION_CREDENTIALS: adc }, validForS: 3600, sessionName: "j-adc2" });
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow(/no Google credentials for gs:\/\/kiln-store\/runs/);
  });

  it("streams the outputs as one tar through the sessions (parts, resumed after a failed one), then verifies and fetches", async () => {
    const big = Buffer.alloc(3 * 256 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
    emu.failChunks(1);
    const p = await pushed("j-gcs", { "metrics.jsonl": '{"step": 1}\n', "sae/weights.bin": big, "odd name ü.txt": "x\n" }, { part_size: 256 * 1024 });
    expect(p.code, p.result.error).toBe(0);
    expect(p.result).toMatchObject({ ok: true, files: 3, store: `gs://${BUCKET}/runs/j-gcs` });
    expect(emu.chunkFaultsLeft()).toBe(0);
    expect(emu.names(BUCKET).filter((n) => n.startsWith("runs/j-gcs/"))).toEqual(["runs/j-gcs/manifest.json", "runs/j-gcs/outputs.tar"]);
    // The archive is a plain tar: anyone can read it back without Kiln.
    writeFileSync(join(dir, "j-gcs", "copy.tar"), emu.object(BUCKET, "runs/j-gcs/outputs.tar")!);
    expect(execFileSync("tar", ["tf", join(dir, "j-gcs", "copy.tar")], { encoding: "utf8" }).trim().split("\n")).toEqual(["metrics.jsonl", "odd name ü.txt", "sae/weights.bin"]);
    const manifest = JSON.parse(emu.object(BUCKET, "runs/j-gcs/manifest.json")!.toString()) as { version: number; archive: { path: string; size: number } };
    expect(manifest.version).toBe(2);
    expect(manifest.archive).toMatchObject({ path: "outputs.tar", size: emu.object(BUCKET, "runs/j-gcs/outputs.tar")!.length });
    for (const id of ["storage.objects.insert#resumable", "storage.objects.insert#resumable-chunk"]) expect(check.exercised, id).toContain(id);
    const reader = await storeCredentialsForReading(storeSpec(), p.location, env());
    expect(reader).toMatchObject({ kind: "gcs-token", scope: "as-given" });
    const check2 = await verifyDurableCopy({ location: p.location, credentials: reader, expected: await localManifest(p.out) });
    expect(check2).toMatchObject({ ok: true, verified: 3, missing: [], mismatched: [], notInManifest: [] });
    const local = join(dir, "j-gcs", "fetched");
    const got = await fetchFromStore({ location: p.location, credentials: reader, localDir: local });
    expect(got.bytes).toBe(big.length + 12 + 2);
    expect(await localManifest(local)).toEqual(await localManifest(p.out));
    expect(createHash("sha256").update(readFileSync(join(local, "sae", "weights.bin"))).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
    // A retried push (the watchdog retries until a client returns) finds the sessions finished with the same bytes.
    const again = await runPush("j-gcs", p.out, p.config);
    expect(again.code, again.result.error).toBe(0);
    // Outputs that changed since cannot be written through a finished session, and the push says so.
    writeFileSync(join(p.out, "metrics.jsonl"), '{"step": 2}\n');
    const changed = await runPush("j-gcs", p.out, p.config);
    expect(changed.code).toBe(1);
    expect(changed.result.error).toMatch(/outputs\.tar: the store holds \d+ bytes .*an earlier push finished this object with other bytes/);
  });

  it("catches a damaged archive and one holding a file the manifest does not list; a token that cannot read is the user's error", async () => {
    const p = await pushed("j-gcs-bad", { "a.txt": "aaaa\n", "b.txt": "bbbb\n" });
    expect(p.code, p.result.error).toBe(0);
    const reader = await storeCredentialsForReading(storeSpec(), p.location, env());
    const tar = emu.object(BUCKET, "runs/j-gcs-bad/outputs.tar")!;
    // One byte of a.txt's content changed (it sits in the block after a.txt's header).
    const damaged = Buffer.from(tar);
    damaged[damaged.indexOf("aaaa\n")] = "A".charCodeAt(0);
    emu.tamper(BUCKET, "runs/j-gcs-bad/outputs.tar", damaged);
    const c = await verifyDurableCopy({ location: p.location, credentials: reader });
    expect(c.ok).toBe(false);
    expect(c.mismatched.map((m) => m.path)).toEqual(["a.txt"]);
    await expect(fetchFromStore({ location: p.location, credentials: reader, localDir: join(dir, "j-gcs-bad", "fetched") })).rejects.toThrow(/a\.txt in gs:\/\/kiln-store\/runs\/j-gcs-bad\/outputs\.tar is corrupt/);
    expect(await localManifest(join(dir, "j-gcs-bad", "fetched"))).toEqual([{ path: "b.txt", size: 5, sha256: createHash("sha256").update("bbbb\n").digest("hex") }]);
    // A hostile archive: a path outside the manifest (here one that climbs out) is refused, nothing written for it.
    const evilTar = join(dir, "evil.tar");
    execFileSync("python3", ["-c", "import io,sys,tarfile\nwith tarfile.open(sys.argv[1], 'w') as t:\n  for n, d in (('a.txt', b'aaaa\\n'), ('../x.txt', b'x')):\n    i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))", evilTar]);
    emu.tamper(BUCKET, "runs/j-gcs-bad/outputs.tar", readFileSync(evilTar));
    const hostile = await verifyDurableCopy({ location: p.location, credentials: reader });
    expect(hostile.ok).toBe(false);
    await expect(fetchFromStore({ location: p.location, credentials: reader, localDir: join(dir, "j-gcs-bad", "evil") })).rejects.toThrow(/outputs\.tar/);
    expect(() => readFileSync(join(dir, "j-gcs-bad", "x.txt"))).toThrow();
    await expect(verifyDurableCopy({ location: p.location, credentials: { kind: "gcs-token", token: new Secret("ya29.expired"), scope: "as-given" } })).rejects.toThrow(UserError);
  });
});

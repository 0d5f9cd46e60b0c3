// Azure Blob as the durable store, against Azurite (Microsoft's emulator, which checks SAS signatures,
// permissions and expiry): Kiln mints a blob SAS from the account key for each of the job's two objects (the
// archive layout: outputs.tar and manifest.json), the machine-side module streams the tar with them (blocks)
// and reads both back, and the client verifies and fetches with a read-only container SAS. The machine's SASes
// reach those two blobs and nothing else (no other blob of its own prefix, no other job's, no list, no
// delete); a read-only SAS cannot push; a damaged blob is caught by its sha256; a SAS that cannot read is a
// UserError naming the fix.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import { localManifest } from "../../remote/sync/manifest.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { pushModulePath } from "../watchdog/index.js";
import { blobPath } from "./blob-reader.js";
import { containerSas } from "./blob-sas.js";
import { fetchFromStore, storeCredentialsForJob, storeCredentialsForReading, storeLocation, storePushConfigJson, verifyDurableCopy } from "./index.js";
import { type Azurite, startAzurite } from "./testing/azurite.js";

let az: Azurite | undefined;
let skip: string | undefined;
let dir: string;
beforeAll(async () => {
  const a = await startAzurite();
  if ("skip" in a) skip = a.skip;
  else az = a;
  dir = mkdtempSync(join(tmpdir(), "kiln-azure-store-"));
}, 150_000);
afterAll(async () => {
  await az?.close();
  rmSync(dir, { recursive: true, force: true });
});

const storeSpec = () =>
  jobSpecSchema.parse({
    name: "j",
    budget: { max_usd: 1 },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: `az://${az!.account}/${az!.container}/runs`, endpoint_url: az!.url, account_key_env: "AZ_KEY" } },
  }).artifacts.store!;
const env = () => ({ AZ_KEY: az!.key });

/** Push `files` for `jobId` with the machine-side module, as the watchdog does, with the SAS Kiln mints. */
async function pushed(jobId: string, files: Record<string, string | Buffer>, extra: Record<string, unknown> = {}) {
  const out = join(dir, jobId, "outputs");
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(out, p, ".."), { recursive: true });
    writeFileSync(join(out, p), body);
  }
  const location = storeLocation(storeSpec(), jobId);
  const credentials = await storeCredentialsForJob({ store: storeSpec(), location, env: env(), validForS: 3600, sessionName: jobId });
  const config = join(dir, jobId, "store.json");
  writeFileSync(config, JSON.stringify({ ...JSON.parse(storePushConfigJson({ location, credentials })), ...extra }), { mode: 0o600 });
  const r = spawnSync("python3", [pushModulePath(), "--config", config, "--outputs", out, "--result", join(dir, jobId, "result.json"), "--timeout-s", "60"], { encoding: "utf8" });
  return { out, location, credentials, code: r.status, result: JSON.parse(readFileSync(join(dir, jobId, "result.json"), "utf8")) as { ok: boolean; error?: string; files?: number } };
}

describe("Azure Blob as the durable store (Azurite)", () => {
  const it_ = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (skip !== undefined) ctx.skip(`azurite could not start: ${skip}`);
      await fn();
    }, 120_000);

  it_("pushes the outputs as one tar with a blob SAS per object (blocks), then verifies and fetches with a read-only SAS", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    const p = await pushed("j-az", { "metrics.jsonl": '{"step": 1}\n', "sae/weights.bin": big, "odd name ü.txt": "x\n" }, { part_size: 1024 * 1024 });
    expect(p.code, p.result.error).toBe(0);
    expect(p.result).toMatchObject({ ok: true, files: 3 });
    expect(p.credentials).toMatchObject({ kind: "azure-blob-sas" });
    const location = p.location;
    const reader = await storeCredentialsForReading(storeSpec(), location, env());
    const list = await fetch(`${az!.url}/${az!.account}/${az!.container}?restype=container&comp=list&prefix=${encodeURIComponent(`${location.keyPrefix}/`)}&${az!.adminSas}`, { headers: { "x-ms-version": "2020-12-06" } });
    expect([...(await list.text()).matchAll(/<Name>([^<]+)<\/Name>/g)].map((m) => m[1])).toEqual([`${location.keyPrefix}/manifest.json`, `${location.keyPrefix}/outputs.tar`]);
    const check = await verifyDurableCopy({ location, credentials: reader, expected: await localManifest(p.out) });
    expect(check).toMatchObject({ ok: true, verified: 3, missing: [], mismatched: [], notInManifest: [] });
    const local = join(dir, "j-az", "fetched");
    const got = await fetchFromStore({ location, credentials: reader, localDir: local });
    expect(got.bytes).toBe(big.length + 12 + 2);
    expect(await localManifest(local)).toEqual(await localManifest(p.out));
    expect(createHash("sha256").update(readFileSync(join(local, "sae", "weights.bin"))).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
  });

  it_("the machine's SASes reach its two blobs only: no other name in its prefix, no other job's blob, no list, no delete", async () => {
    const other = await pushed("j-az-other", { "a.txt": "theirs\n" });
    const p = await pushed("j-az-rights", { "a.txt": "a\n" });
    expect(p.code, p.result.error).toBe(0);
    if (p.credentials.kind !== "azure-blob-sas") throw new Error("expected blob SASes");
    const sas = p.credentials.archive.reveal();
    expect(new URLSearchParams(sas).get("sr")).toBe("b");
    expect(new URLSearchParams(sas).get("sp")).toBe("rcw");
    const container = `${az!.url}/${az!.account}/${az!.container}`;
    const blob = (key: string) => `${container}/${blobPath(key)}`;
    const h = { "x-ms-blob-type": "BlockBlob", "x-ms-version": "2020-12-06" };
    // Its own archive: read and write.
    expect((await fetch(`${blob(`${p.location.keyPrefix}/outputs.tar`)}?${sas}`, { headers: h })).status).toBe(200);
    // Anything else, by this SAS: refused.
    for (const key of [`${p.location.keyPrefix}/manifest.json`, `${p.location.keyPrefix}/outputs/x.txt`, `${other.location.keyPrefix}/outputs.tar`, "x.txt"]) {
      expect((await fetch(`${blob(key)}?${sas}`, { method: "PUT", body: "x", headers: h })).status, key).toBe(403);
    }
    expect((await fetch(`${blob(`${other.location.keyPrefix}/outputs.tar`)}?${sas}`, { headers: h })).status).toBe(403);
    expect((await fetch(`${container}?restype=container&comp=list&${sas}`, { headers: h })).status).toBe(403);
    expect((await fetch(`${blob(`${p.location.keyPrefix}/outputs.tar`)}?${sas}`, { method: "DELETE", headers: h })).status).toBe(403);
    // A push with a read-only SAS (what verify uses) is refused by the store, and says so in the result.
    const out = join(dir, "j-az-ro", "outputs");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "a.txt"), "a\n");
    const location = storeLocation(storeSpec(), "j-az-ro");
    const config = join(dir, "j-az-ro", "store.json");
    writeFileSync(config, storePushConfigJson({ location, credentials: await storeCredentialsForReading(storeSpec(), location, env()) }), { mode: 0o600 });
    const r = spawnSync("python3", [pushModulePath(), "--config", config, "--outputs", out, "--result", join(dir, "j-az-ro", "result.json"), "--timeout-s", "60"], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(JSON.parse(readFileSync(join(dir, "j-az-ro", "result.json"), "utf8")).error).toMatch(/HTTP 403 AuthorizationPermissionMismatch/);
  });

  it_("catches a damaged archive by its sha256, and a SAS that cannot read is the user's error", async () => {
    const p = await pushed("j-az-bad", { "a.txt": "aaaa\n", "b.txt": "bbbb\n" });
    expect(p.code, p.result.error).toBe(0);
    const key = `${p.location.keyPrefix}/outputs.tar`;
    const url = `${az!.url}/${az!.account}/${az!.container}/${blobPath(key)}`;
    const tar = Buffer.from(await (await fetch(`${url}?${az!.adminSas}`, { headers: { "x-ms-version": "2020-12-06" } })).arrayBuffer());
    tar[tar.indexOf("aaaa\n")] = "A".charCodeAt(0);
    const put = await fetch(`${url}?${az!.adminSas}`, { method: "PUT", body: tar, headers: { "x-ms-blob-type": "BlockBlob" } });
    expect(put.status).toBe(201);
    const reader = await storeCredentialsForReading(storeSpec(), p.location, env());
    const check = await verifyDurableCopy({ location: p.location, credentials: reader });
    expect(check.ok).toBe(false);
    expect(check.mismatched.map((m) => m.path)).toEqual(["a.txt"]);
    // Minted with write rights only: reading is refused, with the fix.
    const writeOnly = containerSas({ account: az!.account, container: az!.container, accountKey: az!.key, permissions: "cw", expiresAtMs: Date.now() + 600_000, httpsOnly: false });
    await expect(verifyDurableCopy({ location: p.location, credentials: { kind: "azure-sas", sas: new Secret(writeOnly), scope: "as-given" } })).rejects.toThrow(UserError);
  });

  it_("refuses a spec that mixes the stores' credential fields, naming the field", async () => {
    const parse = (store: Record<string, unknown>) => jobSpecSchema.safeParse({ name: "j", budget: { max_usd: 1 }, workload: { type: "command", run: ["true"] }, artifacts: { store } });
    const mixed = parse({ url: "az://acct/kiln/runs", role_arn: "arn:aws:iam::123456789012:role/x" });
    expect(mixed.success).toBe(false);
    expect(JSON.stringify(mixed.error?.issues)).toMatch(/role_arn is for S3 stores/);
    expect(parse({ url: "s3://bkt/runs", sas_token_env: "SAS" }).success).toBe(false);
    expect(parse({ url: "az://Bad_Account/kiln/runs" }).success).toBe(false);
    expect(parse({ url: "az://acct/kiln" }).success).toBe(false);
    expect(parse({ url: "az://acct/kiln/runs" }).success).toBe(true);
  });
});

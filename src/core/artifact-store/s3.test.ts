// The client's side of the durable store against moto's S3 on loopback (IAM authentication on): a copy
// pushed by the machine-side module (run as the watchdog runs it) verifies and fetches whole; a damaged or
// missing object is caught by its sha256; credentials without the right are a UserError naming the fix.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KilnError, UserError } from "../../base/errors.js";
import { localManifest } from "../../remote/sync/manifest.js";
import { pushModulePath } from "../watchdog/index.js";
import { jobSpecSchema } from "../spec/job-spec.js";
import { fetchFromStore, storeCredentialsFromEnv, storeLocation, storePushConfigJson, verifyDurableCopy } from "./index.js";
import { type MotoStore, startMotoStore } from "./testing/moto.js";

let moto: MotoStore | undefined;
let skip: string | undefined;
let dir: string;
beforeAll(async () => {
  const m = await startMotoStore();
  if ("skip" in m) skip = m.skip;
  else moto = m;
  dir = mkdtempSync(join(tmpdir(), "kiln-store-"));
}, 200_000);
afterAll(async () => {
  await moto?.close();
  rmSync(dir, { recursive: true, force: true });
});

const storeSpec = () =>
  jobSpecSchema.parse({
    name: "j",
    budget: { max_usd: 1 },
    workload: { type: "command", run: ["true"] },
    artifacts: { store: { url: `s3://${moto!.bucket}/${moto!.prefix}`, endpoint_url: moto!.url, access_key_id_env: "K", secret_access_key_env: "S" } },
  }).artifacts.store!;
const as = (who: "admin" | "writer" | "readonly") => storeCredentialsFromEnv(storeSpec(), { K: moto![who].id, S: moto![who].secret });

/** Push `files` for `jobId` with the machine-side module, as the watchdog does. */
function pushed(jobId: string, files: Record<string, string>) {
  const out = join(dir, jobId, "outputs");
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(out, p, ".."), { recursive: true });
    writeFileSync(join(out, p), text);
  }
  const location = storeLocation(storeSpec(), jobId);
  const config = join(dir, jobId, "store.json");
  writeFileSync(config, storePushConfigJson({ location, credentials: as("writer") }), { mode: 0o600 });
  execFileSync("python3", [pushModulePath(), "--config", config, "--outputs", out, "--result", join(dir, jobId, "result.json"), "--timeout-s", "60"]);
  return { out, location };
}

describe("the durable store, from the client", () => {
  const it_ = (name: string, fn: () => Promise<void>) =>
    it(name, async (ctx) => {
      if (skip !== undefined) ctx.skip(`moto could not start: ${skip}`);
      await fn();
    }, 120_000);

  it_("verifies and fetches what the machine pushed, byte for byte", async () => {
    const { out, location } = pushed("j-ok", { "metrics.jsonl": '{"step": 1}\n', "sae/checkpoint.bin": "x".repeat(100_000) });
    const expected = await localManifest(out);
    expect(await verifyDurableCopy({ location, credentials: as("admin"), expected })).toMatchObject({ ok: true, verified: 2, manifest: expected });
    const local = join(dir, "j-ok", "fetched");
    expect(await fetchFromStore({ location, credentials: as("readonly"), localDir: local })).toMatchObject({ manifest: expected, bytes: 100_012 });
    expect(await localManifest(local)).toEqual(expected);
  });

  it_("catches a damaged object, a missing one and a missing manifest", async () => {
    const { location: l } = pushed("j-bad", { "a.txt": "aaaa\n", "b.txt": "bbbb\n" });
    if (l.kind !== "s3") throw new Error("expected an S3 location");
    const location = l;
    const admin = new S3Client({ region: location.region, endpoint: location.endpoint, forcePathStyle: true, credentials: { accessKeyId: moto!.admin.id, secretAccessKey: moto!.admin.secret } });
    await admin.send(new PutObjectCommand({ Bucket: location.bucket, Key: `${location.keyPrefix}/outputs/a.txt`, Body: "AAAA\n" }));
    await admin.send(new DeleteObjectCommand({ Bucket: location.bucket, Key: `${location.keyPrefix}/outputs/b.txt` }));
    const check = await verifyDurableCopy({ location, credentials: as("admin") });
    expect(check).toMatchObject({ ok: false, verified: 0, missing: ["b.txt"], mismatched: [{ path: "a.txt", expectedSize: 5, gotSize: 5 }] });
    await expect(fetchFromStore({ location, credentials: as("admin"), localDir: join(dir, "j-bad", "fetched") })).rejects.toThrow(KilnError);
    const none = storeLocation(storeSpec(), "j-never-pushed");
    expect(await verifyDurableCopy({ location: none, credentials: as("admin") })).toMatchObject({ ok: false, reason: expect.stringMatching(/no manifest\.json/) });
    admin.destroy();
  });

  it_("says which credentials to fix when the store refuses to read", async () => {
    const { location } = pushed("j-denied", { "a.txt": "a\n" });
    const elsewhere = { ...location, keyPrefix: "elsewhere/j-denied" };
    await expect(verifyDurableCopy({ location: elsewhere, credentials: as("writer") })).rejects.toThrow(UserError);
  });
});

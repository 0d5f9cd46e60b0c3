// The stores' credential exchanges read their answers bounded: GCS's upload-session opening (through the
// bounded reader) and AWS STS AssumeRole (the S3 store's role_arn, through the SDK's bounded-response
// middleware). A huge or endless answer (a proxy, a wrong endpoint_url) is refused while it streams, with a
// UserError naming the endpoint and the limit, instead of being buffered whole.
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { type HugeBodyServer, startHugeBodyServer } from "../../base/testing/huge-body-server.js";
import { Secret } from "../../providers/credentials.js";
import { gcsCredentialsForJob } from "./gcs-sessions.js";
import type { ArtifactStoreSpec } from "../spec/job-spec.js";
import type { GcsLocation } from "./location.js";
import { assumeJobRole } from "./sts.js";

let srv: HugeBodyServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

const gcs = (endpoint: string): GcsLocation => ({ kind: "gcs", bucket: "b", keyPrefix: "runs/j-1", endpoint, url: "gs://b/runs/j-1" });
const store = { url: "gs://b/runs", access_token_env: "T" } as unknown as ArtifactStoreSpec;

describe("opening GCS upload sessions reads the answer bounded", () => {
  it("a refusal with an endless page is read no further than a line's worth: a UserError with the status and the fix", async () => {
    const size = 64 * 1024 * 1024;
    srv = await startHugeBodyServer({ bytes: size, status: 403 });
    const e = await gcsCredentialsForJob(store, gcs(srv.url), { T: "ya29.source" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toMatch(/^artifacts\.store: GCS refused to open an upload to gs:\/\/b\/runs\/j-1 \(HTTP 403\)$/);
    expect((e as UserError).hint).toMatch(/objectAdmin/);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(size / 2);
  });

  it("a 200 without a session URI is not read at all, and says what was missing", async () => {
    const size = 64 * 1024 * 1024;
    srv = await startHugeBodyServer({ bytes: size });
    await expect(gcsCredentialsForJob(store, gcs(srv.url), { T: "ya29.source" })).rejects.toThrow(/answered HTTP 200 without a session URI/);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(size / 2);
  });
});

describe("the S3 store's AssumeRole answer is bounded", () => {
  it("an endless answer is refused past 8 MiB: a UserError naming the endpoint, not retried", async () => {
    const size = 64 * 1024 * 1024;
    srv = await startHugeBodyServer({ bytes: size });
    const location = { kind: "s3" as const, bucket: "b", keyPrefix: "runs/j-1", endpoint: srv.url, region: "us-east-1", addressing: "path" as const, url: "s3://b/runs/j-1" };
    const base = { kind: "s3" as const, accessKeyId: "AKIDTEST", secretAccessKey: new Secret("secret"), scope: "as-given" as const };
    const e = await assumeJobRole({ location, roleArn: "arn:aws:iam::123456789012:role/kiln", base, validForS: 3600, sessionName: "j-1" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toMatch(new RegExp(`^artifacts\\.store\\.role_arn: STS AssumeRole at ${srv.url} answered a body of more than 8 MiB \\(\\d+ bytes read, HTTP 200\\); refused without reading the rest$`));
    expect(srv.requests()).toBe(1);
  });
});

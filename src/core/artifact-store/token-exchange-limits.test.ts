// The stores' token exchanges read their answers bounded: Google's STS (the GCS store's downscoping, through
// the bounded reader) and AWS STS AssumeRole (the S3 store's role_arn, through the SDK's bounded-response
// middleware). A huge or endless answer (a proxy, a wrong endpoint_url) is refused while it streams, with a
// UserError naming the endpoint and the limit, instead of being buffered whole.
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { type HugeBodyServer, startHugeBodyServer } from "../../base/testing/huge-body-server.js";
import { Secret } from "../../providers/credentials.js";
import { STS_MAX_RESPONSE_BYTES, downscopedToken } from "./gcs-token.js";
import type { GcsLocation } from "./location.js";
import { assumeJobRole } from "./sts.js";

let srv: HugeBodyServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

const location = (stsEndpoint: string): GcsLocation => ({ kind: "gcs", bucket: "b", keyPrefix: "runs/j-1", endpoint: "http://127.0.0.1:1", stsEndpoint, url: "gs://b/runs/j-1" });

describe("the STS token exchange's answer is bounded", () => {
  it("an endless answer is refused past the limit: a UserError naming the endpoint and the limit", async () => {
    const size = 64 * 1024 * 1024;
    srv = await startHugeBodyServer({ bytes: size });
    const endpoint = `${srv.url}/v1/token`;
    const e = await downscopedToken({ location: location(endpoint), source: { token: new Secret("ya29.source") } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).toMatch(new RegExp(`^artifacts\\.store: the STS token exchange at ${endpoint} answered a body of more than 256 KiB \\(\\d+ bytes read, HTTP 200\\); refused without reading the rest$`));
    expect((e as UserError).hint).toMatch(/endpoint_url/);
    expect(STS_MAX_RESPONSE_BYTES).toBe(256 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(size / 2);
  });

  it("so is an error answer (a 4xx with a huge page), before it is parsed", async () => {
    srv = await startHugeBodyServer({ bytes: 1024 * 1024, declareLength: true, status: 400 });
    await expect(downscopedToken({ location: location(`${srv.url}/v1/token`), source: { token: new Secret("ya29.source") } })).rejects.toThrow(/answered a body of more than 256 KiB \(0 bytes read, HTTP 400\)/);
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

// `artifacts.store` and `budget.on_cap_offline`: what a user may write, and the errors that name the field
// and the fix when they write something else.
import { describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { parseJobSpec } from "./load.js";

const spec = (artifacts: string, budget = "{max_usd: 20}") => `
name: demo
resources: {providers: [lambda], gpu: [A100-40GB]}
budget: ${budget}
workload: {type: command, run: ["true"]}
artifacts: ${artifacts}
`;

function problems(text: string): string[] {
  try {
    parseJobSpec(text, "job.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).exitCode).toBe(2);
    return (e as UserError).message.split("\n").slice(1).map((l) => l.replace(/^ {2}- /, ""));
  }
  throw new Error("spec unexpectedly valid");
}

describe("artifacts.store", () => {
  it("takes an s3:// URL with defaults for the region and the credential variables", () => {
    const s = parseJobSpec(spec("{store: {url: s3://my-bucket/kiln/runs}}"), "job.yaml");
    expect(s.artifacts.store).toEqual({ url: "s3://my-bucket/kiln/runs", region: "us-east-1", access_key_id_env: "AWS_ACCESS_KEY_ID", secret_access_key_env: "AWS_SECRET_ACCESS_KEY" });
    expect(s.budget.on_cap_offline).toBeUndefined();
  });

  it("takes an S3-compatible endpoint, named credential variables and a role to scope them (any partition)", () => {
    const s = parseJobSpec(
      spec("{store: {url: s3://b-1/p, endpoint_url: 'https://acct.r2.cloudflarestorage.com', region: auto, access_key_id_env: R2_KEY, secret_access_key_env: R2_SECRET, session_token_env: R2_TOKEN, role_arn: 'arn:minio:iam:::role/kiln'}}"),
      "job.yaml",
    );
    expect(s.artifacts.store).toMatchObject({ endpoint_url: "https://acct.r2.cloudflarestorage.com", region: "auto", session_token_env: "R2_TOKEN", role_arn: "arn:minio:iam:::role/kiln" });
  });

  it("takes gs:// for GCS (./gcs-store.test.ts has its rules), az:// for Azure Blob, and names Azure's https form", () => {
    expect(parseJobSpec(spec("{store: {url: gs://bkt/prefix}}"), "job.yaml").artifacts.store).toMatchObject({ url: "gs://bkt/prefix" });
    expect(parseJobSpec(spec("{store: {url: az://acct/container/prefix, account_key_env: AZ_KEY}}"), "job.yaml").artifacts.store).toMatchObject({ url: "az://acct/container/prefix", account_key_env: "AZ_KEY" });
    expect(problems(spec("{store: {url: 'https://acct.blob.core.windows.net/container/prefix'}}"))[0]).toMatch(/write Azure Blob Storage as az:\/\/ACCOUNT\/CONTAINER\/PREFIX/);
    expect(problems(spec("{store: {url: az://acct/container}}"))[0]).toMatch(/expected a prefix \(az:\/\/ACCOUNT\/CONTAINER\/PREFIX\)/);
  });

  it("refuses a whole bucket, a bad bucket name, an escaping prefix and an unknown scheme", () => {
    expect(problems(spec("{store: {url: s3://bkt}}"))[0]).toMatch(/^artifacts\.store\.url: expected a prefix \(s3:\/\/BUCKET\/PREFIX\)/);
    expect(problems(spec("{store: {url: s3://Bad_Bucket/p}}"))[0]).toMatch(/is not an S3 bucket name/);
    expect(problems(spec("{store: {url: s3://bkt/a/../b}}"))[0]).toMatch(/prefix segment "\.\." is not allowed/);
    expect(problems(spec("{store: {url: ftp://host/p}}"))[0]).toMatch(/unknown store scheme "ftp:\/\/"/);
  });

  it("takes the NAMES of the credential variables, never a pasted key", () => {
    expect(problems(spec("{store: {url: s3://bkt/p, secret_access_key_env: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'}}"))).toEqual([
      "artifacts.store.secret_access_key_env: expected the NAME of an environment variable holding the secret access key (e.g. AWS_ACCESS_KEY_ID), never the value itself",
    ]);
  });

  it("refuses an endpoint with a path or credentials in it, and an unknown key with a did-you-mean", () => {
    expect(problems(spec("{store: {url: s3://bkt/p, endpoint_url: 'https://u:p@minio.local:9000/bucket'}}"))[0]).toMatch(/^artifacts\.store\.endpoint_url: expected an http\(s\) origin/);
    expect(problems(spec("{store: {url: s3://bkt/p, regoin: eu-west-1}}"))[0]).toMatch(/regoin.*region/);
  });
});

describe("budget.on_cap_offline", () => {
  it("is keep-data or stop-billing, with no default", () => {
    expect(parseJobSpec(spec("{}", "{max_usd: 20, on_cap_offline: keep-data}"), "job.yaml").budget.on_cap_offline).toBe("keep-data");
    expect(parseJobSpec(spec("{}", "{max_usd: 20, on_cap_offline: stop-billing}"), "job.yaml").budget.on_cap_offline).toBe("stop-billing");
    expect(problems(spec("{}", "{max_usd: 20, on_cap_offline: terminate}"))[0]).toMatch(/^budget\.on_cap_offline: expected keep-data \(the machine runs on past the cap/);
  });
});

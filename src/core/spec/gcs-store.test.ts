// `artifacts.store.url: gs://BUCKET/PREFIX`: GCS's bucket naming rules, the prefix the token is scoped to,
// and the credential fields that belong to other stores, each refused with a message naming the field.
import { describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { parseJobSpec } from "./load.js";

const spec = (store: string) => `
name: demo
resources: {providers: [lambda], gpu: [A100-40GB]}
budget: {max_usd: 20}
workload: {type: command, run: ["true"]}
artifacts: {store: ${store}}
`;

function problems(store: string): string[] {
  try {
    parseJobSpec(spec(store), "job.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return (e as UserError).message.split("\n").slice(1).map((l) => l.replace(/^ {2}- /, ""));
  }
  throw new Error("spec unexpectedly valid");
}

describe("artifacts.store: gs://", () => {
  it("takes a bucket and prefix, dotted and underscored buckets, an emulator endpoint and a token variable", () => {
    expect(parseJobSpec(spec("{url: gs://my-bucket/kiln/runs}"), "job.yaml").artifacts.store).toMatchObject({ url: "gs://my-bucket/kiln/runs" });
    expect(parseJobSpec(spec("{url: gs://data.example.com/runs}"), "job.yaml").artifacts.store).toMatchObject({ url: "gs://data.example.com/runs" });
    expect(parseJobSpec(spec("{url: gs://my_bucket_1/runs, endpoint_url: 'http://127.0.0.1:4443', access_token_env: GCS_TOKEN}"), "job.yaml").artifacts.store).toMatchObject({
      endpoint_url: "http://127.0.0.1:4443",
      access_token_env: "GCS_TOKEN",
    });
  });

  it("refuses names GCS refuses, naming the url field", () => {
    const bad: [string, RegExp][] = [
      ["gs://ab/p", /"ab" is not a GCS bucket name \(3-63/],
      ["gs://My-Bucket/p", /"My-Bucket" is not a GCS bucket name/],
      ["gs://-bucket/p", /"-bucket" is not a GCS bucket name/],
      [`gs://${"a".repeat(64)}/p`, /is not a GCS bucket name \(3-63/],
      [`gs://${"a".repeat(64)}.example.com/p`, /each dot-separated part is 1-63 characters/],
      ["gs://a..b/p", /each dot-separated part/],
      ["gs://192.168.1.10/p", /an IP address is not allowed/],
      ["gs://goog-data/p", /may not start with "goog"/],
      ["gs://my-google-data/p", /contain "google"/],
      ["gs://my-g00gle-data/p", /contain "google"/],
    ];
    for (const [url, message] of bad) {
      const got = problems(`{url: '${url}'}`);
      expect(got[0], url).toMatch(/^artifacts\.store\.url: /);
      expect(got[0], url).toMatch(message);
    }
  });

  it("refuses a whole bucket and an escaping prefix: the token is scoped to the prefix", () => {
    expect(problems("{url: gs://bkt}")[0]).toMatch(/^artifacts\.store\.url: expected a prefix \(gs:\/\/BUCKET\/PREFIX\): the credentials are scoped to it/);
    expect(problems("{url: gs://bkt/a/../b}")[0]).toMatch(/prefix segment "\.\." is not allowed/);
  });

  it("refuses other stores' credential fields on gs://, and access_token_env on other stores", () => {
    expect(problems("{url: gs://bkt/p, role_arn: 'arn:aws:iam::123456789012:role/x'}")).toEqual([
      "artifacts.store.role_arn: role_arn is not for gs:// stores; a gs:// store uses Application Default Credentials, or the access token access_token_env names",
    ]);
    expect(problems("{url: gs://bkt/p, sas_token_env: SAS}")[0]).toMatch(/^artifacts\.store\.sas_token_env: /);
    expect(problems("{url: s3://bkt/p, access_token_env: T}")).toEqual(["artifacts.store.access_token_env: access_token_env is for Google Cloud Storage (gs://BUCKET/PREFIX)"]);
    expect(problems("{url: gs://bkt/p, access_token_env: 'ya29.a0AfH6SMB'}")[0]).toMatch(/^artifacts\.store\.access_token_env: expected the NAME of an environment variable/);
  });
});

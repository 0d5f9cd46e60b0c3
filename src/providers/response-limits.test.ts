// Answers read outside the REST clients go through the same bounded reader (src/base/bounded-body.ts):
// the live price APIs (GCP's Cloud Billing Catalog, Azure's Retail Prices) and the public-address echo
// services. A huge or endless answer is refused, named, and not retried; it is never buffered whole.
import { afterEach, describe, expect, it } from "vitest";
import { type HugeBodyServer, startHugeBodyServer } from "../base/testing/huge-body-server.js";
import { checkIp } from "./aws/configured.js";
import { callerCidr } from "./azure/configured.js";
import { fetchRetailPrices } from "./azure/prices.js";
import { fetchComputeSkus } from "./gcp/prices.js";
import { ProviderError } from "./provider.js";

let srv: HugeBodyServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});
const signal = () => AbortSignal.timeout(20_000);
const SIZE = 96 * 1024 * 1024;

describe("bounded answers outside the REST clients", () => {
  it("GCP's Cloud Billing Catalog: a page past 64 MiB is refused as response-too-large, once", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE });
    const e = await fetchComputeSkus({ url: `${srv.url}/v1/services/6F81-5844-456A/skus`, headers: async () => new Headers() }, signal()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "fatal", code: "kiln/response-too-large", status: 200 });
    expect((e as ProviderError).message).toMatch(new RegExp(`^the Cloud Billing Catalog API \\(${srv.url}\\) answered a body of more than 64 MiB \\(\\d+ bytes read, HTTP 200\\); refused without reading the rest`));
    expect(srv.requests()).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(SIZE);
  });

  it("Azure's Retail Prices: a page past 8 MiB is refused as response-too-large", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE });
    const e = await fetchRetailPrices(["eastus"], ["Standard_NC24ads_A100_v4"], signal(), { url: `${srv.url}/api/retail/prices` }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "fatal", code: "kiln/response-too-large" });
    expect((e as ProviderError).message).toMatch(new RegExp(`^Azure Retail Prices API \\(${srv.url}\\) answered a body of more than 8 MiB`));
    expect(srv.requests()).toBe(1);
  });

  it("the public-address echo services: more than a line is refused, never parsed", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE });
    const url = srv.url;
    const toEcho: typeof fetch = (_input, init) => fetch(url, init);
    await expect(checkIp(signal(), toEcho)).rejects.toThrow(/could not find this computer's public address .*a body of more than 1 KiB/);
    await expect(callerCidr(signal(), toEcho)).rejects.toThrow(/could not find this computer's public address .*a body of more than 1 KiB/);
  });
});

describe("bounded answers read through the GCP SDK", () => {
  it("GCE through google-gax: the Compute API's answer past 8 MiB fails the call as response-too-large, not retried", async () => {
    const { GcpClient } = await import("./gcp/client.js");
    const { staticTokenAuth } = await import("./gcp/auth.js");
    srv = await startHugeBodyServer({ bytes: SIZE });
    const client = new GcpClient({ project: "p", auth: staticTokenAuth("t"), endpoint: srv.url, backoffBaseMs: 1, backoffMaxMs: 1 });
    const e = await client.get("us-central1-a", "kiln-x", signal()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "fatal", code: "kiln/response-too-large" });
    expect((e as ProviderError).message).toMatch(/^GCE instances\.get answered a body of more than 8 MiB \(\d+ bytes read, HTTP 200\); refused without reading the rest/);
    expect(srv.requests()).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(SIZE / 2);
  });

  it("GCE: an announced Content-Length past the limit is refused before reading", async () => {
    const { GcpClient } = await import("./gcp/client.js");
    const { staticTokenAuth } = await import("./gcp/auth.js");
    srv = await startHugeBodyServer({ bytes: SIZE, declareLength: true });
    const client = new GcpClient({ project: "p", auth: staticTokenAuth("t"), endpoint: srv.url, backoffBaseMs: 1, backoffMaxMs: 1 });
    await expect(client.get("us-central1-a", "kiln-x", signal())).rejects.toMatchObject({ code: "kiln/response-too-large" });
    expect(srv.requests()).toBe(1);
  });
});

describe("bounded answers read through the AWS SDK", () => {
  const ec2Call = async (url: string) => {
    const { AwsClient } = await import("./aws/client.js");
    const { DescribeInstancesCommand } = await import("@aws-sdk/client-ec2");
    const client = new AwsClient({ endpoint: url, credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "secret" }, maxAttempts: 3 });
    try {
      return await client.call("DescribeInstances", "us-east-1", signal(), (abortSignal) => client.ec2("us-east-1").send(new DescribeInstancesCommand({}), { abortSignal }));
    } finally {
      client.destroy();
    }
  };

  it("EC2: an answer past 8 MiB fails the call as response-too-large while streaming, not retried", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE });
    const e = await ec2Call(srv.url).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "fatal", code: "kiln/response-too-large", status: 200 });
    expect((e as ProviderError).message).toMatch(/^AWS DescribeInstances in us-east-1 answered a body of more than 8 MiB \(\d+ bytes read, HTTP 200\); refused without reading the rest/);
    expect(srv.requests()).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(SIZE / 2);
  });

  it("EC2: an announced Content-Length past the limit is refused before reading", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE, declareLength: true });
    await expect(ec2Call(srv.url)).rejects.toMatchObject({ kind: "fatal", code: "kiln/response-too-large" });
    expect(srv.requests()).toBe(1);
  });
});

describe("bounded answers read through the Azure SDK", () => {
  const vmGet = async (url: string, machineName?: string) => {
    const { AzureClient } = await import("./azure/client.js");
    const credential = { getToken: async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const client = new AzureClient({ subscriptionId: "00000000-0000-0000-0000-000000000000", credential, endpoint: url, maxRetries: 2 });
    return client.call("virtualMachines.get", signal(), (sdk, abortSignal) => sdk.compute.virtualMachines.get("rg", "kiln-x", { abortSignal }), machineName ? { machineName } : {});
  };

  it("ARM: an answer past 8 MiB fails the call as response-too-large while streaming, not retried", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE });
    const e = await vmGet(srv.url).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ kind: "fatal", code: "kiln/response-too-large", status: 200 });
    expect((e as ProviderError).message).toMatch(/^Azure virtualMachines\.get answered a body of more than 8 MiB \(\d+ bytes read, HTTP 200\); refused without reading the rest/);
    expect(srv.requests()).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(srv.sent()).toBeLessThan(SIZE / 2);
  });

  it("ARM: on a launch, a 2xx refused unread is an unknown outcome (the machine may exist), not a failure", async () => {
    srv = await startHugeBodyServer({ bytes: SIZE, declareLength: true });
    const { LaunchOutcomeUnknownError } = await import("./provider.js");
    await expect(vmGet(srv.url, "kiln-x")).rejects.toBeInstanceOf(LaunchOutcomeUnknownError);
    expect(srv.requests()).toBe(1);
  });
});

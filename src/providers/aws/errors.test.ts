// EC2 error classification: the code decides before the status (InsufficientInstanceCapacity is a 500,
// RequestLimitExceeded a 503), quotas carry the Service Quotas page, no answer at all is transient, and
// machine ids carry their region.
import { describe, expect, it } from "vitest";
import { ProviderError } from "../provider.js";
import { toProviderError } from "./errors.js";
import { formatMachineId, parseMachineId, parseMachineIdLoose } from "./ids.js";

/** What the AWS SDK throws for an EC2 error: a ServiceException named by the code, with $metadata. */
const sdkError = (name: string, status?: number, message = "m") => Object.assign(new Error(message), { name, ...(status !== undefined && { $metadata: { httpStatusCode: status } }) });

describe("toProviderError", () => {
  it.each([
    ["InsufficientInstanceCapacity", 500, "capacity", "instance-type"],
    ["InsufficientHostCapacity", 500, "capacity", "instance-type"],
    ["InstanceLimitExceeded", 400, "quota", "provider"],
    ["VcpuLimitExceeded", 400, "quota", "provider"],
    ["MaxSpotInstanceCountExceeded", 400, "quota", "provider"],
    ["AuthFailure", 401, "auth", "none"],
    ["UnauthorizedOperation", 403, "auth", "none"],
    ["OptInRequired", 401, "auth", "none"],
    ["RequestLimitExceeded", 503, "rate-limited", "none"],
    ["InternalError", 500, "transient", "none"],
    ["Unavailable", 503, "transient", "none"],
    ["InvalidParameterValue", 400, "invalid", "none"],
    ["SomethingNew", 400, "invalid", "none"],
    ["SomethingNew", 502, "transient", "none"],
  ] as const)("%s (HTTP %i) is %s", (code, status, kind, scope) => {
    const e = toProviderError(sdkError(code, status), "RunInstances", "us-east-1");
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ provider: "aws", kind, scope, code, status });
    expect(e.message).toMatch(new RegExp(`^AWS RunInstances in us-east-1 failed: ${code} \\(HTTP ${status}\\)`));
  });

  it("a quota names the console page that raises it, in the region", () => {
    const e = toProviderError(sdkError("VcpuLimitExceeded", 400), "RunInstances", "eu-west-1");
    expect(e.suggestion).toMatch(/^raise it in Service Quotas: https:\/\/eu-west-1\.console\.aws\.amazon\.com\/servicequotas\/home\/services\/ec2\/quotas/);
  });

  it("no answer at all (reset, refused, timeout) is transient; a ProviderError passes through", () => {
    const reset = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    expect(toProviderError(reset, "DescribeInstances", "us-east-1")).toMatchObject({ kind: "transient", code: "ECONNRESET", status: undefined });
    expect(toProviderError(sdkError("TimeoutError"), "DescribeInstances", "us-east-1")).toMatchObject({ kind: "transient" });
    const pe = new ProviderError("aws", "auth", "x");
    expect(toProviderError(pe, "X", "us-east-1")).toBe(pe);
  });

  it("an unreadable body (an HTML page from a proxy) says so instead of a parser's words", () => {
    const e = toProviderError(sdkError("Unknown", 502, "Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object."), "DescribeInstances", "us-east-1");
    expect(e).toMatchObject({ kind: "transient", status: 502 });
    expect(e.message).toMatch(/not EC2's XML error envelope/);
  });
});

describe("machine ids", () => {
  it("carry the region, and a malformed one is invalid", () => {
    expect(formatMachineId("us-east-1", "i-0abc12345678")).toBe("us-east-1/i-0abc12345678");
    expect(parseMachineId("ap-southeast-2/i-0123456789abcdef0")).toEqual({ region: "ap-southeast-2", instanceId: "i-0123456789abcdef0" });
    expect(parseMachineIdLoose("i-0123456789abcdef0")).toBeUndefined();
    expect(() => parseMachineId("us-east-1/vol-0123")).toThrow(/not an EC2 machine id/);
  });
});

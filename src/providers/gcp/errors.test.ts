// GCE's error reasons and operation codes → Kiln's kinds, body code before status.
import { describe, expect, it } from "vitest";
import { classifyHttp, gcpHttpError, gcpOperationError } from "./errors.js";

describe("GCE error classification", () => {
  it.each([
    [403, "rateLimitExceeded", undefined, "rate-limited"],
    [403, "userRateLimitExceeded", undefined, "rate-limited"],
    [403, "quotaExceeded", undefined, "quota"],
    [403, "accessNotConfigured", undefined, "auth"],
    [403, "billingNotEnabled", undefined, "billing"],
    [403, "forbidden", undefined, "auth"],
    [403, undefined, "RESOURCE_EXHAUSTED", "rate-limited"],
    [401, undefined, undefined, "auth"],
    [429, undefined, undefined, "rate-limited"],
    [400, "invalid", undefined, "invalid"],
    [409, "alreadyExists", undefined, "invalid"],
    [500, undefined, undefined, "transient"],
    [503, "backendError", undefined, "transient"],
    [418, undefined, undefined, "fatal"],
  ] as const)("HTTP %i reason %s status %s → %s", (status, reason, gstatus, kind) => {
    expect(classifyHttp(status, reason, gstatus).kind).toBe(kind);
  });

  it("a failed operation: the known code wins over the first, with the zone and GCE's message", () => {
    const e = gcpOperationError("p", { name: "op", status: "DONE", zone: "https://x/zones/us-central1-a", httpErrorStatusCode: 503, error: { errors: [{ code: "SOMETHING_ELSE", message: "x" }, { code: "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", message: "no A100s" }] } }, "instances.insert")!;
    expect(e).toMatchObject({ kind: "capacity", scope: "region", code: "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", status: 503 });
    expect(e.message).toBe("GCE instances.insert in us-central1-a failed in its operation (ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: no A100s)");
    expect(gcpOperationError("p", { name: "op", status: "DONE" }, "instances.insert")).toBeUndefined();
    // Unknown code: by the operation's HTTP status, never guessed retryable otherwise.
    expect(gcpOperationError("p", { name: "op", status: "DONE", error: { errors: [{ code: "NEW_THING" }] } }, "x")!.kind).toBe("fatal");
    expect(gcpOperationError("p", { name: "op", status: "DONE", httpErrorStatusCode: 503, error: { errors: [{ code: "NEW_THING" }] } }, "x")!.kind).toBe("transient");
  });

  it("quota and billing errors say where to fix them", () => {
    expect(gcpHttpError("my-proj", 403, { error: { code: 403, message: "m", errors: [{ reason: "quotaExceeded" }] } }, "instances.insert").suggestion).toContain("iam-admin/quotas?project=my-proj");
    expect(gcpHttpError("my-proj", 403, { error: { code: 403, message: "m", errors: [{ reason: "billingNotEnabled" }] } }, "instances.insert").suggestion).toContain("billing/linkedaccount?project=my-proj");
  });
});

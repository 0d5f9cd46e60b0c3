// EC2 failures through the real SDK, moto and the shim's faults: each gives the right ProviderError kind,
// the SDK's retry does what EC2's documentation expects, and a launch whose answer is lost is never a
// second instance (ClientToken).
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { isMaybeLaunched, type LaunchRequest, type Offer, ProviderError } from "../provider.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

const signal = () => AbortSignal.timeout(30_000);
const REQ = { gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "never" } as const;
let n = 0;
const launchReq = (offer: Offer): LaunchRequest => ({ intentId: `0badf00d-${(++n).toString(16).padStart(6, "0")}${Date.now().toString(16)}`, offer, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY });

async function rejection(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
}

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("aws faults (moto + shim)", () => {
  // The SDK retries a 500 (EC2's capacity answer included) up to its attempts; with the ClientToken that is
  // safe, and a capacity error that persists through them is capacity.
  it("InsufficientInstanceCapacity (an HTTP 500) is capacity, by its code, not transient by its status", async () => {
    const fx = await frontAndProvider({ faults: [{ kind: "capacity", match: { path: "RunInstances" }, times: 3 }] });
    try {
      const [offer] = await fx.provider.listOffers(REQ, signal());
      const e = await rejection(fx.provider.launch(launchReq(offer!), signal()));
      expect(e).toMatchObject({ provider: "aws", kind: "capacity", code: "InsufficientInstanceCapacity", status: 500, scope: "instance-type" });
      expect(isMaybeLaunched(e)).toBe(false);
      expect(fx.front.instances()).toEqual([]);
    } finally {
      await fx.close();
    }
  });

  it("VcpuLimitExceeded and MaxSpotInstanceCountExceeded are quota, with the Service Quotas page", async () => {
    const fx = await frontAndProvider({ faults: [{ kind: "quota", match: { path: "RunInstances" }, times: 1 }, { kind: "spot-quota", match: { path: "RunInstances" }, times: 1 }] });
    try {
      const [offer] = await fx.provider.listOffers(REQ, signal());
      for (const code of ["VcpuLimitExceeded", "MaxSpotInstanceCountExceeded"]) {
        const e = await rejection(fx.provider.launch(launchReq(offer!), signal()));
        expect(e).toMatchObject({ kind: "quota", code, scope: "provider" });
        expect(e.suggestion).toContain("https://us-east-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas");
      }
    } finally {
      await fx.close();
    }
  });

  it("RequestLimitExceeded is retried by the SDK; when it persists it is rate-limited", async () => {
    const fx = await frontAndProvider({ faults: [{ kind: "rate-limit", match: { path: "DescribeInstances" }, times: 1 }] });
    try {
      expect(await fx.provider.listMachines(signal())).toBeInstanceOf(Array);
      fx.front.inject({ kind: "rate-limit", match: { path: "DescribeInstances" }, times: 10 });
      const e = await rejection(fx.provider.listMachines(signal()));
      expect(e).toMatchObject({ kind: "rate-limited", code: "RequestLimitExceeded", status: 503 });
    } finally {
      await fx.close();
    }
  });

  it("UnauthorizedOperation and wrong keys are auth, with how to fix them", async () => {
    const fx = await frontAndProvider({ faults: [{ kind: "unauthorized", match: { path: "TerminateInstances" }, times: 1 }] });
    try {
      const e = await rejection(fx.provider.terminate("us-east-1/i-0123456789abcdef0", signal()));
      expect(e).toMatchObject({ kind: "auth", code: "UnauthorizedOperation" });
      const wrong = await frontAndProvider({ key: { id: "AKIAWRONGWRONGWRONG1", secret: "nope" } });
      try {
        const w = await rejection(wrong.provider.listOffers(REQ, signal()));
        expect(w).toMatchObject({ provider: "aws", kind: "auth", code: "AuthFailure", status: 401 });
        expect(w.message).toMatch(/^AWS DescribeInstanceTypeOfferings in us-east-1 failed: AuthFailure/);
        expect(w.suggestion).toMatch(/AWS_ACCESS_KEY_ID/);
      } finally {
        await wrong.close();
      }
    } finally {
      await fx.close();
    }
  });

  it("a lost RunInstances answer is retried with the same ClientToken: one instance, not two", async () => {
    const fx = await frontAndProvider({ faults: [{ kind: "lost-response", match: { path: "RunInstances" }, times: 1 }] });
    try {
      const [offer] = await fx.provider.listOffers(REQ, signal());
      const req = launchReq(offer!);
      const m = await fx.provider.launch(req, signal());
      expect(m.name).toBe(`kiln-${req.intentId}`);
      const inMoto = await fx.front.motoEc2().send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:Name", Values: [m.name] }] }));
      expect(inMoto.Reservations?.flatMap((r) => r.Instances ?? [])).toHaveLength(1);
      await fx.provider.terminate(m.id, signal());
    } finally {
      await fx.close();
    }
  });

  it("5xx on every attempt: the launch outcome is unknown (never a blind relaunch), and the same intent finds the one instance", async () => {
    const fx = await frontAndProvider();
    try {
      const [offer] = await fx.provider.listOffers(REQ, signal());
      const req = launchReq(offer!);
      fx.front.inject({ kind: "lost-response", match: { path: "RunInstances" }, times: 3 });
      const e = await rejection(fx.provider.launch(req, signal()));
      expect(isMaybeLaunched(e)).toBe(true);
      // The lifecycle resolves it by name (or an idempotent retry with the same token): the same instance.
      const listed = (await fx.provider.listMachines(signal())).filter((x) => x.intentId === req.intentId);
      expect(listed).toHaveLength(1);
      const again = await fx.provider.launch(req, signal());
      expect(again.id).toBe(listed[0]!.id);
      await fx.provider.terminate(again.id, signal());
    } finally {
      await fx.close();
    }
  });

  it("an HTML error page and a malformed answer are ProviderErrors naming AWS and what was wrong", async () => {
    const fx = await frontAndProvider({ faults: [{ kind: "html-error", match: { path: "DescribeInstances" }, times: 3 }] });
    try {
      const html = await rejection(fx.provider.listMachines(signal()));
      expect(html).toMatchObject({ provider: "aws", kind: "transient", status: 502 });
      expect(html.message).toMatch(/^AWS DescribeInstances in us-east-1/);
      fx.front.inject({ kind: "malformed", match: { path: "DescribeInstances" }, times: 1 });
      const bad = await rejection(fx.provider.listMachines(signal()));
      expect(bad).toMatchObject({ provider: "aws", kind: "fatal", code: "kiln/malformed-response" });
      expect(bad.message).toContain("AWS DescribeInstances answered something Kiln cannot read: Reservations.0.Instances.0.InstanceId");
    } finally {
      await fx.close();
    }
  });

  it("InvalidInstanceID.NotFound right after a launch is notFound (the core waits out the lag), then the instance", async () => {
    // Counted in reads, not time, so a slow machine cannot outwait it: the first read misses the instance.
    const fx = await frontAndProvider({ faults: [{ kind: "listing-lag", match: { path: "RunInstances" }, requests: 1, times: 1 }] });
    try {
      const [offer] = await fx.provider.listOffers(REQ, signal());
      const m = await fx.provider.launch(launchReq(offer!), signal());
      expect(m.id).toMatch(/^us-east-1\/i-[0-9a-f]+$/);
      const early = await fx.provider.describe(m.id, signal());
      expect(early).toMatchObject({ state: "terminated", notFound: true, providerState: "InvalidInstanceID.NotFound" });
      const later = await fx.provider.describe(m.id, signal());
      expect(later.notFound).toBeUndefined();
      expect(later.intentId).toBe(m.intentId);
      await fx.provider.terminate(m.id, signal());
    } finally {
      await fx.close();
    }
  });

  it("a malformed machine id is a bug (invalid), never 'terminated'", async () => {
    const fx = await frontAndProvider();
    try {
      expect(await rejection(fx.provider.describe("i-0abc", signal()))).toMatchObject({ kind: "invalid", code: "kiln/bad-machine-id" });
    } finally {
      await fx.close();
    }
  });
});

// What moto lacks and the shim covers, end to end through the provider: spot offers at live prices with
// MaxPrice, a spot reclaim (the IMDSv2 notice, then the termination EC2 reports as
// Server.SpotInstanceTermination), and the cloud-side cap: the machine's own poweroff terminates the
// instance in moto's state, because Kiln launched it with InstanceInitiatedShutdownBehavior=terminate.
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import type { MachineRecord, Provider } from "../provider.js";
import { EMULATED_POWEROFF } from "./configured.js";
import { awsDescriptor } from "./descriptor.js";
import { defaultSpotPrice } from "./testing/front.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

const signal = () => AbortSignal.timeout(30_000);
const intent = () => `0badcafe-${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`;

async function untilRunning(p: Provider, id: string): Promise<MachineRecord> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = await p.describe(id, signal());
    if (m.state === "running") return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${id} never ran`);
}

async function motoState(ec2: EC2Client, instanceId: string): Promise<string | undefined> {
  const r = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return r.Reservations?.[0]?.Instances?.[0]?.State?.Name;
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  let v = await f();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
    v = await f();
  }
  return v;
}

const dir = mkdtempSync(join(tmpdir(), "kiln-aws-cap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("aws spot and the cloud-side cap (moto + shim)", () => {
  it("the descriptor promises the cloud-side stop and no key on the machine", () => {
    expect(awsDescriptor.cap).toEqual({ cloudSideStop: "shutdown-terminates", persistentVolume: "EBS volumes" });
  });

  it("a spot price of $0 from DescribeSpotPriceHistory is not offered (it would turn the dollar cap off)", async () => {
    const fx = await frontAndProvider({ spotPriceOf: () => 0 });
    try {
      const offers = await fx.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "allowed" }, signal());
      expect(offers.length).toBeGreaterThan(0);
      expect(offers.filter((o) => o.spot)).toEqual([]);
    } finally {
      await fx.close();
    }
  });

  it("spot offers carry the live DescribeSpotPriceHistory price and MaxPrice = on-demand; the machine is billed at the spot price", async () => {
    const forms: URLSearchParams[] = [];
    const fx = await frontAndProvider({ observe: (f) => forms.push(new URLSearchParams(f)) });
    try {
      const offers = await fx.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "allowed" }, signal());
      const spot = offers.find((o) => o.spot)!;
      const onDemand = offers.find((o) => !o.spot)!;
      expect(spot).toMatchObject({ instanceType: "g5.xlarge", priceSource: "live", pricePerHour: defaultSpotPrice("g5.xlarge"), capPricePerHour: onDemand.pricePerHour });
      expect(spot.priceDate).toBe(new Date().toISOString().slice(0, 10));
      expect(onDemand).toMatchObject({ priceSource: "catalog", pricePerHour: 1.006 });
      expect((await fx.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal())).every((o) => !o.spot)).toBe(true);
      const m = await fx.provider.launch({ intentId: intent(), offer: spot, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal());
      const [, instanceId] = m.id.split("/") as [string, string];
      const inMoto = (await fx.front.motoEc2().send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations![0]!.Instances![0]!;
      expect(inMoto.InstanceLifecycle).toBe("spot");
      // moto keeps no record of MaxPrice for a RunInstances spot launch (no spot request is created), so the
      // request itself is read: spot, one-time, terminate on interruption, MaxPrice = the offer's cap.
      const run = forms.find((f) => f.get("Action") === "RunInstances")!;
      expect(Object.fromEntries([...run.entries()].filter(([k]) => k.startsWith("InstanceMarketOptions")))).toEqual({
        "InstanceMarketOptions.MarketType": "spot",
        "InstanceMarketOptions.SpotOptions.SpotInstanceType": "one-time",
        "InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior": "terminate",
        "InstanceMarketOptions.SpotOptions.MaxPrice": "1.0060",
      });
      expect(run.get("InstanceInitiatedShutdownBehavior")).toBe("terminate");
      expect(run.get("ClientToken")).toBe(m.name);
      expect(run.get("MetadataOptions.HttpTokens")).toBe("required");
      expect(fx.front.instances().find((i) => i.instanceId === instanceId)).toMatchObject({ spot: true, pricePerHour: spot.pricePerHour });
      await fx.provider.terminate(m.id, signal());
    } finally {
      await fx.close();
    }
  });

  it("a reclaim: the IMDSv2 notice (token PUT, then GET), then terminated with reclaimed set", async () => {
    const fx = await frontAndProvider();
    try {
      const spot = (await fx.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "prefer" }, signal())).find((o) => o.spot)!;
      const m = await fx.provider.launch({ intentId: intent(), offer: spot, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal());
      await untilRunning(fx.provider, m.id);
      const instanceId = m.id.split("/")[1]!;
      const imds = `${fx.front.url}/__imds/${instanceId}/latest`;
      expect((await fetch(`${imds}/api/token`, { method: "PUT" })).status).toBe(400); // no TTL header
      const token = await (await fetch(`${imds}/api/token`, { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "300" } })).text();
      expect((await fetch(`${imds}/meta-data/spot/instance-action`)).status).toBe(401); // IMDSv2: no token, no answer
      const action = () => fetch(`${imds}/meta-data/spot/instance-action`, { headers: { "X-aws-ec2-metadata-token": token } });
      expect((await action()).status).toBe(404); // no notice yet
      // EC2 waits two minutes after the notice; here the termination follows the machine's first read of it.
      const reclaim = fx.front.reclaim(instanceId, { noticeMs: 60_000, untilNoticeRead: true });
      const notice = await until(async () => (await action()).status, (s) => s === 200, "the notice");
      expect(notice).toBe(200);
      await reclaim;
      const gone = await fx.provider.describe(m.id, signal());
      expect(gone).toMatchObject({ state: "terminated", providerState: "terminated (Server.SpotInstanceTermination)" });
      expect(gone.reclaimed?.reason).toMatch(/^Server\.SpotInstanceTermination/);
      expect(fx.front.homeOf(instanceId)).toBeUndefined(); // its processes died with it
    } finally {
      await fx.close();
    }
  });

  it("the machine's poweroff (the watchdog's end of billing, run over SSH) terminates the instance in moto's own state", async () => {
    const key = join(dir, "id_ed25519");
    if (!existsSync(key)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const pub = readFileSync(`${key}.pub`, "utf8").trim();
    const fx = await frontAndProvider();
    try {
      const [offer] = await fx.provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
      const m = await fx.provider.launch({ intentId: intent(), offer: offer!, sshKeyName: "kiln-cap-test", sshPublicKey: pub }, signal());
      const running = await untilRunning(fx.provider, m.id);
      const instanceId = m.id.split("/")[1]!;
      const ec2 = fx.front.motoEc2();
      const attr = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: "instanceInitiatedShutdownBehavior" }));
      expect(attr.InstanceInitiatedShutdownBehavior?.Value).toBe("terminate");
      // The end-billing script exactly as the watchdog runs it on the machine: `sh end-billing.sh`.
      const script = join(dir, "end-billing.sh");
      writeFileSync(script, EMULATED_POWEROFF.script);
      const r = spawnSync("ssh", ["-i", key, "-p", String(running.ssh!.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", `${userInfo().username}@${running.ssh!.host}`, "sh -s"], { input: readFileSync(script), timeout: 20_000 });
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(await until(() => motoState(ec2, instanceId), (s) => s === "terminated", "moto's state after the poweroff")).toBe("terminated");
      // The shim's meter closes once its terminate call returns, a moment after moto's state changes.
      expect(await until(async () => fx.front.billed().find((b) => b.id === instanceId)?.status, (st) => st === "terminated", "the meter")).toBe("terminated");
      // Run anywhere but an emulated machine, the script refuses rather than power off a computer.
      const outside = spawnSync("sh", [script], { env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" } });
      expect(outside.status).toBe(1);
    } finally {
      await fx.close();
    }
  });

  it("an instance left at EC2's default behaviour (stop) is stopped by its poweroff, not terminated: the shim reads the attribute", async () => {
    const fx = await frontAndProvider();
    try {
      const viaShim = new EC2Client({ endpoint: fx.front.url, region: fx.moto.region, credentials: { accessKeyId: fx.moto.admin.id, secretAccessKey: fx.moto.admin.secret } });
      const r = await viaShim.send(new RunInstancesCommand({ ImageId: fx.moto.ami_id, InstanceType: "g6.xlarge", MinCount: 1, MaxCount: 1 }));
      const instanceId = r.Instances![0]!.InstanceId!;
      const machineDir = await until(async () => fx.front.machineDirOf(instanceId), (d) => d !== undefined, "the machine's sshd");
      writeFileSync(join(machineDir!, "powered-off"), "");
      expect(await until(() => motoState(fx.front.motoEc2(), instanceId), (s) => s === "stopped", "moto's state")).toBe("stopped");
      viaShim.destroy();
    } finally {
      await fx.close();
    }
  });
});

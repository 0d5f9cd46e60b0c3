// What Kiln opens and how it labels what it launches on EC2, read back from moto's own state:
// - the caller's address comes from checkip.amazonaws.com (a local server stands in for it here); only one
//   plain IPv4 address is accepted, never a CIDR, 0.0.0.0 or a proxy's page;
// - the installation's security group lets in tcp/22 from that address's /32 and nothing else: never
//   0.0.0.0/0 or ::/0, no other port, no other group on the instance; a new client address adds its /32;
// - the instance and its root volume carry the installation id and the intent from the launch request.
import { DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeVolumesCommand, type IpPermission } from "@aws-sdk/client-ec2";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProviderError } from "../provider.js";
import { CHECKIP_URL, checkIp } from "./configured.js";
import { TAG_INSTALLATION, TAG_INTENT } from "./provider.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

const signal = () => AbortSignal.timeout(30_000);

/** A stand-in for checkip.amazonaws.com: answers `answer` (status `status`) and records what was asked. */
let answer = "198.51.100.23\n";
let status = 200;
const asked: string[] = [];
let checkipUrl = "";
const server = createServer((_req, res) => {
  res.writeHead(status, { "content-type": "text/plain" }).end(answer);
});
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  checkipUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
/** fetch, with AWS's checkip address answered by the local stand-in (any other URL is refused). */
const viaStandIn: typeof fetch = async (url, init) => {
  asked.push(String(url));
  if (String(url) !== CHECKIP_URL) throw new Error(`unexpected fetch of ${String(url)}`);
  return fetch(checkipUrl, init);
};
const callerIp = (signal: AbortSignal) => checkIp(signal, viaStandIn);

describe("the caller's address (checkip.amazonaws.com)", () => {
  it("is asked of AWS's echo service and taken as one IPv4 address", async () => {
    answer = "203.0.113.7\n";
    status = 200;
    asked.length = 0;
    expect(await callerIp(signal())).toBe("203.0.113.7");
    expect(asked).toEqual([CHECKIP_URL]);
  });

  it.each([["0.0.0.0/0"], ["0.0.0.0"], ["203.0.113.0/24"], ["300.1.2.3"], ["2001:db8::1"], ["<html><body>Captive portal</body></html>"], [""]])("refuses %j: nothing wider than one host ever reaches the SSH rule", async (text) => {
    answer = text;
    status = 200;
    const e = await callerIp(signal()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect(e).toMatchObject({ provider: "aws", kind: "transient", code: "kiln/checkip" });
  });

  it("an HTTP error is a transient ProviderError naming the service and why it was asked", async () => {
    answer = "Service Unavailable";
    status = 503;
    const e = (await callerIp(signal()).catch((x: unknown) => x)) as ProviderError;
    expect(e).toMatchObject({ kind: "transient", code: "kiln/checkip" });
    expect(e.message).toBe(`could not find this computer's public address at ${CHECKIP_URL} (for the SSH rule of Kiln's security group): HTTP 503`);
  });
});

/** Every address range an ingress rule admits, IPv4 and IPv6, as CIDR strings. */
const rangesOf = (perms: readonly IpPermission[]) => perms.flatMap((p) => [...(p.IpRanges ?? []).map((r) => r.CidrIp), ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6)]);

describe.skipIf(!existsSync(VENV_PYTHON))("the security group and tags Kiln launches with (moto + shim)", () => {
  it("SSH from the caller's /32 only, on the instance's only group; a new address adds its /32; never 0.0.0.0/0", async () => {
    const installation = "5ec0ab1e";
    const fx = await frontAndProvider({ providerOptions: { callerIp } });
    try {
      const [offer] = await fx.provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
      answer = "198.51.100.23\n";
      status = 200;
      const m = await fx.provider.launch({ intentId: `${installation}-00000000a1`, offer: offer!, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal());
      const ec2 = fx.front.motoEc2();
      const instanceId = m.id.split("/")[1]!;
      const inst = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations![0]!.Instances![0]!;
      // Only Kiln's group on the instance (not the VPC's default group).
      expect(inst.SecurityGroups?.map((g) => g.GroupName)).toEqual([`kiln-ssh-${installation}`]);
      const groupId = inst.SecurityGroups![0]!.GroupId!;
      const group = async () => (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }))).SecurityGroups![0]!;
      const first = await group();
      expect(first.Tags).toEqual([{ Key: TAG_INSTALLATION, Value: installation }]);
      expect(first.IpPermissions).toHaveLength(1);
      expect(first.IpPermissions![0]).toMatchObject({ IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: "198.51.100.23/32", Description: "Kiln client" }] });
      expect(first.IpPermissions![0]!.Ipv6Ranges ?? []).toEqual([]);
      expect(first.IpPermissions![0]!.UserIdGroupPairs ?? []).toEqual([]);
      expect(first.IpPermissions![0]!.PrefixListIds ?? []).toEqual([]);
      // The same installation from another network: the same group, its /32 added beside the first.
      answer = "192.0.2.99\n";
      const again = await fx.provider.launch({ intentId: `${installation}-00000000a2`, offer: offer!, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal());
      const second = await group();
      expect(second.IpPermissions!.map((p) => [p.IpProtocol, p.FromPort, p.ToPort])).toEqual([["tcp", 22, 22]]);
      expect(rangesOf(second.IpPermissions!).sort()).toEqual(["192.0.2.99/32", "198.51.100.23/32"]);
      // Nowhere in the account does a Kiln group admit the world.
      const all = (await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups!.filter((g) => g.GroupName?.startsWith("kiln-"));
      expect(all.map((g) => g.GroupName)).toEqual([`kiln-ssh-${installation}`]);
      expect(all.flatMap((g) => rangesOf(g.IpPermissions ?? [])).filter((c) => c === "0.0.0.0/0" || c === "::/0" || !c?.endsWith("/32"))).toEqual([]);
      await fx.provider.terminate(m.id, signal());
      await fx.provider.terminate(again.id, signal());
    } finally {
      await fx.close();
    }
  }, 120_000);

  it("the instance and its root volume carry the installation id and the intent from the launch request", async () => {
    const installation = "7a65d00d";
    const intentId = `${installation}-00000000b1`;
    const forms: URLSearchParams[] = [];
    const fx = await frontAndProvider({ providerOptions: { callerIp }, observe: (f) => forms.push(new URLSearchParams(f)) });
    try {
      const [offer] = await fx.provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "never" }, signal());
      answer = "198.51.100.23\n";
      const m = await fx.provider.launch({ intentId, offer: offer!, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal());
      const expected = [
        { Key: "Name", Value: `kiln-${intentId}` },
        { Key: TAG_INSTALLATION, Value: installation },
        { Key: TAG_INTENT, Value: intentId },
      ];
      const byKey = (tags: { Key?: string; Value?: string }[] | undefined) => [...(tags ?? [])].sort((a, b) => String(a.Key).localeCompare(String(b.Key)));
      const ec2 = fx.front.motoEc2();
      const instanceId = m.id.split("/")[1]!;
      const inst = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations![0]!.Instances![0]!;
      expect(byKey(inst.Tags)).toEqual(byKey(expected));
      // What the provider reads back from those tags: the intent, hence the installation.
      expect(m).toMatchObject({ name: `kiln-${intentId}`, intentId });
      const volumes = (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] }))).Volumes!;
      expect(volumes.length).toBeGreaterThan(0);
      for (const v of volumes) expect(byKey(v.Tags)).toEqual(byKey(expected));
      // Tagged at creation, in the RunInstances call itself (no window in which the instance is untagged).
      const run = forms.find((f) => f.get("Action") === "RunInstances")!;
      expect([run.get("TagSpecification.1.ResourceType"), run.get("TagSpecification.2.ResourceType")]).toEqual(["instance", "volume"]);
      await fx.provider.terminate(m.id, signal());
    } finally {
      await fx.close();
    }
  }, 120_000);
});

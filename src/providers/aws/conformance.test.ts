// Every EC2 request Kiln sends — offers, launch (key pair, security group, AMI by SSM parameter and by name,
// on-demand and spot), describe, list, terminate and `kiln check`'s DryRuns — checked against AWS's own
// service model (botocore's, ./testing/ec2-model.subset.json): zero violations. moto answers them, so the
// answers are an independent emulator's; the checker itself is shown to catch a bad request.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { AwsClient } from "./client.js";
import { checkAws } from "./check.js";
import { emulatedProvider } from "./configured.js";
import { checkEc2Request } from "./testing/ec2-model-check.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

const signal = () => AbortSignal.timeout(30_000);

describe("the EC2 model check", () => {
  it("catches an unknown parameter, a bad enum value, a bad list index and a missing required member", () => {
    const bad = new URLSearchParams({ Action: "RunInstances", Version: "2016-11-15", ImageId: "ami-1", MinCount: "1", InstanceType: "g5.xlarge", InstanceInitiatedShutdownBehavior: "explode", Surprise: "1", "TagSpecification.0.ResourceType": "instance" });
    expect(checkEc2Request(bad)).toEqual([
      'RunInstances: InstanceInitiatedShutdownBehavior="explode": not one of stop, terminate',
      expect.stringMatching(/^RunInstances: Surprise="1": Surprise is not a member/),
      'RunInstances: TagSpecification.0.ResourceType="instance": list index 0 is not 1, 2, …',
      "RunInstances: required MaxCount is missing",
    ]);
  });
});

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("Kiln's EC2 requests conform to AWS's model (moto + shim)", () => {
  it("the whole provider flow and kiln check: zero violations", async () => {
    const forms: URLSearchParams[] = [];
    const fx = await frontAndProvider({ observe: (f) => forms.push(new URLSearchParams(f)) });
    try {
      const offers = await fx.provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "allowed" }, signal());
      for (const offer of [offers.find((o) => !o.spot)!, offers.find((o) => o.spot)!]) {
        const m = await fx.provider.launch({ intentId: `0abcdef0-${Date.now().toString(16)}${offer.spot ? "1" : "0"}`, offer, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal());
        await fx.provider.describe(m.id, signal());
        await fx.provider.terminate(m.id, signal());
      }
      await fx.provider.listMachines(signal());
      // The AMI by name where the SSM parameter is missing (DescribeImages, owner amazon).
      const byName = emulatedProvider({ client: fx.client, regions: [fx.moto.region], shimUrl: fx.front.url, providerOptions: { amiParameter: "/aws/service/deeplearning/ami/x86_64/no-such-ami/latest/ami-id", amiNameFilter: "Deep Learning AMI*Ubuntu*" } });
      const viaName = await byName.launch({ intentId: `0abcdef1-${Date.now().toString(16)}`, offer: offers[0]!, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, signal()).catch((e: unknown) => e);
      await checkAws(new AwsClient({ endpoint: fx.front.url, credentials: { accessKeyId: fx.moto.readonly.id, secretAccessKey: fx.moto.readonly.secret }, maxAttempts: 1 }), fx.moto.region, signal());
      await checkAws(fx.client, fx.moto.region, signal());
      const actions = new Set(forms.map((f) => f.get("Action")));
      for (const a of ["DescribeInstanceTypeOfferings", "DescribeSpotPriceHistory", "DescribeKeyPairs", "ImportKeyPair", "DescribeSecurityGroups", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances", "DescribeInstances", "TerminateInstances", "DescribeImages", "CreateTags"]) expect(actions).toContain(a);
      expect(forms.flatMap((f) => checkEc2Request(f))).toEqual([]);
      // The launch by name found moto's DLAMI (owner alias amazon, the newest by CreationDate).
      expect((viaName as { id: string }).id).toMatch(/^us-east-1\/i-/);
      expect(forms.filter((f) => f.get("Action") === "DescribeImages").map((f) => [f.get("Owner.1"), f.get("Filter.1.Value.1")])).toEqual([["amazon", "Deep Learning AMI*Ubuntu*"]]);
    } finally {
      await fx.close();
    }
  });
});

// The shared provider contract, run against AwsProvider on moto's EC2 (server mode) behind Kiln's narrow
// shim (./testing/front.ts: sshd-backed machines, ClientToken idempotency, listing lag).
import { RunInstancesCommand } from "@aws-sdk/client-ec2";
import { describe } from "vitest";
import { runProviderContract } from "../contract.js";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { existsSync } from "node:fs";
import { AwsClient } from "./client.js";
import { emulatedProvider } from "./configured.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("aws on moto", () => {
  runProviderContract("aws (moto + shim)", async () => {
    const fx = await frontAndProvider();
    return {
      provider: fx.provider,
      gpuRequest: { gpus: ["A10-24GB"], count: 1, minVramGb: 24, spot: "never" },
      launchRequest: (offer, intentId) => ({ intentId, offer, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }),
      createForeignMachine: async () => {
        const r = await fx.front.motoEc2().send(new RunInstancesCommand({ ImageId: fx.moto.ami_id, InstanceType: "g5.xlarge", MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "Name", Value: "my-notebook" }] }] }));
        return `${fx.moto.region}/${r.Instances![0]!.InstanceId!}`;
      },
      brokenProvider: () => emulatedProvider({ client: new AwsClient({ endpoint: fx.front.url, credentials: { accessKeyId: "AKIAWRONGWRONGWRONG1", secretAccessKey: "wrong" }, maxAttempts: 1 }), regions: [fx.moto.region], shimUrl: fx.front.url }),
      unknownId: `${fx.moto.region}/i-0123456789abcdef0`,
      lagNextLaunch: (ms) => fx.front.inject({ kind: "listing-lag", match: { method: "POST", path: "RunInstances" }, delayMs: ms, times: 1 }),
      settleTimeoutMs: 30_000,
      close: fx.close,
    };
  });
});

/**
 * `kiln check` for AWS: who the credentials are (STS GetCallerIdentity: account and ARN) and whether they
 * may do what Kiln does, asked with DryRun calls (EC2 answers DryRunOperation when the call would be
 * allowed and UnauthorizedOperation when not; moto answers AccessDenied, which means the same). Nothing is
 * created. Other answers (an id that does not exist, a throttle) leave a permission undetermined, said so.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { ProviderError } from "../provider.js";
import type { AwsClient } from "./client.js";
import { CallerIdentityOut, ParameterOut, parseAws } from "./schema.js";
import { DLAMI_PARAMETER } from "./provider.js";

export interface AwsCheck {
  account: string;
  arn: string;
  region: string;
  /** Permission → allowed (true), missing (false) or undetermined (the code EC2 answered). */
  permissions: { action: string; why: string; result: true | false | string }[];
}

// GUESS: EC2 checks the permission before the resource for DryRun calls, so an id that does not exist still
// answers DryRunOperation / UnauthorizedOperation. Where it answers InvalidInstanceID.NotFound instead, the
// permission is reported as "not determined", never as allowed.
const FAKE_INSTANCE = "i-0123456789abcdef0";
const FAKE_AMI = "ami-0123456789abcdef0";

export async function checkAws(client: AwsClient, region: string, signal: AbortSignal): Promise<AwsCheck> {
  const who = parseAws(CallerIdentityOut, await client.call("sts:GetCallerIdentity", region, signal, (abortSignal) => client.sts(region).send(new GetCallerIdentityCommand({}), { abortSignal })), "sts:GetCallerIdentity");
  const ec2 = client.ec2(region);
  const permissions: AwsCheck["permissions"] = [];
  let ami = FAKE_AMI;
  try {
    ami = parseAws(ParameterOut, await client.call("ssm:GetParameter", region, signal, (abortSignal) => client.ssm(region).send(new GetParameterCommand({ Name: DLAMI_PARAMETER }), { abortSignal })), "ssm:GetParameter").Parameter.Value;
    permissions.push({ action: "ssm:GetParameter", why: "find the Deep Learning AMI", result: true });
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    permissions.push({ action: "ssm:GetParameter", why: "find the Deep Learning AMI (else ec2:DescribeImages by name)", result: e.kind === "auth" ? false : (e.code ?? e.kind) });
  }
  const dry: [string, string, (abortSignal: AbortSignal) => Promise<unknown>][] = [
    ["ec2:RunInstances", "launch", (abortSignal) => ec2.send(new RunInstancesCommand({ DryRun: true, ImageId: ami, InstanceType: "g5.xlarge", MinCount: 1, MaxCount: 1 }), { abortSignal })],
    ["ec2:CreateTags", "tag machines at launch", (abortSignal) => ec2.send(new CreateTagsCommand({ DryRun: true, Resources: [FAKE_INSTANCE], Tags: [{ Key: "kiln-check", Value: "1" }] }), { abortSignal })],
    ["ec2:DescribeInstances", "describe and list machines", (abortSignal) => ec2.send(new DescribeInstancesCommand({ DryRun: true }), { abortSignal })],
    ["ec2:TerminateInstances", "terminate", (abortSignal) => ec2.send(new TerminateInstancesCommand({ DryRun: true, InstanceIds: [FAKE_INSTANCE] }), { abortSignal })],
    ["ec2:ImportKeyPair", "register Kiln's SSH key", (abortSignal) => ec2.send(new ImportKeyPairCommand({ DryRun: true, KeyName: "kiln-check", PublicKeyMaterial: new TextEncoder().encode("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln") }), { abortSignal })],
    ["ec2:CreateSecurityGroup", "open SSH to this computer only", (abortSignal) => ec2.send(new CreateSecurityGroupCommand({ DryRun: true, GroupName: "kiln-check", Description: "kiln check" }), { abortSignal })],
    ["ec2:AuthorizeSecurityGroupIngress", "open SSH to this computer only", (abortSignal) => ec2.send(new AuthorizeSecurityGroupIngressCommand({ DryRun: true, GroupName: "kiln-check", IpPermissions: [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: "192.0.2.1/32" }] }] }), { abortSignal })],
    ["ec2:DescribeSpotPriceHistory", "live spot prices", (abortSignal) => ec2.send(new DescribeSpotPriceHistoryCommand({ DryRun: true, InstanceTypes: ["g5.xlarge"] }), { abortSignal })],
  ];
  for (const [action, why, call] of dry) {
    try {
      await client.call(action, region, signal, call);
      // It ran instead of answering DryRunOperation (moto ignores DryRun on DescribeSpotPriceHistory): it
      // was allowed. Only read-only calls could get here: a mutating one with DryRun never runs.
      permissions.push({ action, why, result: true });
    } catch (e) {
      if (!(e instanceof ProviderError)) throw e;
      // DryRunOperation: "Request would have succeeded, but DryRun flag is set" (HTTP 412).
      if (e.code === "DryRunOperation") permissions.push({ action, why, result: true });
      else if (e.code === "UnauthorizedOperation" || e.code === "AccessDenied") permissions.push({ action, why, result: false });
      else if (e.kind === "auth") throw e;
      else permissions.push({ action, why, result: e.code ?? e.kind });
    }
  }
  return { account: who.Account, arn: who.Arn, region, permissions };
}

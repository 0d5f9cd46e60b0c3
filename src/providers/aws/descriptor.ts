/**
 * AWS EC2's descriptor: its dated catalog (./catalog.ts), credentials (the SDK's standard chain, made
 * explicit in ./credentials.ts), the configured account (or moto behind Kiln's shim when `KILN_AWS_API_URL`
 * points at loopback), `kiln check` (identity and missing permissions), `kiln run --sim` and `kiln emulate
 * aws` (moto from the repository's .venv). Everything heavier than this file is imported on use.
 */
import { UserError, errorMessage } from "../../base/errors.js";
import type { ConfiguredCloud, ProviderContext, ProviderDescriptor, RunningEmulator, SimulatedCloud } from "../descriptor.js";
import { AWS_CATALOG } from "./catalog.js";
import { AWS_ENV_VARS, AWS_FILE_EXAMPLE, AWS_KEYS_PAGE, hasAwsCredentials, loadAwsCredentials } from "./credentials.js";
import { EC2_RECLAIM_NOTICE } from "./notice.js";

async function configured(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const creds = await loadAwsCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { awsConfigured } = await import("./configured.js");
  return awsConfigured(creds, ctx.env);
}

async function check(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const creds = await loadAwsCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const [{ AwsClient }, { clientOptionsFor }, { checkAws }, { ProviderError }] = await Promise.all([import("./client.js"), import("./configured.js"), import("./check.js"), import("../provider.js")]);
  const client = new AwsClient({ ...clientOptionsFor(creds, ctx.env), maxAttempts: 2 });
  const region = creds.regions[0] ?? "us-east-1";
  try {
    const r = await checkAws(client, region, signal);
    const missing = r.permissions.filter((p) => p.result === false);
    const unsure = r.permissions.filter((p) => typeof p.result === "string");
    const who = `${r.arn} (account ${r.account}) from ${creds.source}`;
    if (missing.length > 0) {
      throw new UserError(`AWS identity ${who} may not: ${missing.map((p) => `${p.action} (${p.why})`).join(", ")}`, {
        hint: `attach an IAM policy allowing ${missing.map((p) => p.action).join(", ")} to ${r.arn}, then run: kiln check`,
      });
    }
    const undetermined = unsure.length > 0 ? `; not determined: ${unsure.map((p) => `${p.action} (${String(p.result)})`).join(", ")}` : "";
    return `${who}; in ${region}: ${r.permissions.length - unsure.length} permissions checked by DryRun, none missing${undetermined}`;
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") {
      throw new UserError(`AWS rejected the credentials from ${creds.source} (${e.code ?? `HTTP ${e.status ?? "?"}`})`, {
        cause: e,
        hint: `create an access key at ${AWS_KEYS_PAGE}, then set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "aws" in ${ctx.credentialsPath} (mode 0600)`,
      });
    }
    throw new UserError(`could not check AWS: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  } finally {
    client.destroy();
  }
}

async function simulate(o: { bootDelayMs: number }): Promise<SimulatedCloud> {
  const { startSimulatedAws } = await import("./simulated.js");
  return startSimulatedAws(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator> {
  if (o.configPath) throw new UserError("kiln emulate aws takes no --config: moto's EC2 is configured by its own API", { exitCode: 2 });
  let testing: [typeof import("./testing/moto.js"), typeof import("./testing/front.js")];
  try {
    testing = await Promise.all([import("./testing/moto.js"), import("./testing/front.js")]);
  } catch (e) {
    throw new UserError("kiln emulate aws needs Kiln's EC2 test harness (src/providers/aws/testing/), which this build does not include", { cause: e, hint: "run it from a source checkout" });
  }
  const [{ startMotoEc2 }, { startEc2Front }] = testing;
  const moto = await startMotoEc2();
  if ("skip" in moto) throw new UserError(`kiln emulate aws runs moto's EC2 from the repository's .venv, and it cannot: ${moto.skip}`, { hint: "run scripts/ensure-python.sh" });
  const front = await startEc2Front({ moto, host: o.host, port: o.port }).catch(async (e: unknown) => {
    await moto.close();
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: front.url,
    env: { KILN_AWS_API_URL: front.url, AWS_ACCESS_KEY_ID: moto.admin.id, AWS_SECRET_ACCESS_KEY: moto.admin.secret, AWS_REGION: moto.region },
    close: async () => {
      const all = front.instances();
      await front.close();
      await moto.close();
      return { launched: all.length, live: all.filter((i) => i.status !== "terminated").length };
    },
  };
}

export const awsDescriptor: ProviderDescriptor = {
  name: "aws",
  title: "AWS EC2",
  kind: "cloud",
  tier: "reliable",
  catalog: AWS_CATALOG,
  consoleUrl: "https://console.aws.amazon.com/ec2/home#Instances:tag:Name=kiln-",
  // "The Amazon EC2 API follows an eventual consistency model" (DescribeInstances): a just-launched id may
  // answer InvalidInstanceID.NotFound for a while, usually seconds. Two minutes covers a slow control plane.
  // SkyPilot's published launch time on AWS (command to ready, median, as quoted in Kiln's AWS issue); a GPU
  // instance's own boot is part of it, so it bounds the machine boot from above.
  boot: { minutes: 2.3, source: "SkyPilot's published AWS figure: ~2.3 min median from command to ready" },
  listingLagMs: 120_000,
  // Launched with InstanceInitiatedShutdownBehavior=terminate: the watchdog's poweroff ends billing with no
  // cloud credential on the machine. EBS and S3 outlive the machine, but Kiln does not attach EBS yet.
  cap: { cloudSideStop: "shutdown-terminates", persistentVolume: "EBS volumes" },
  // EC2's two-minute spot notice is IMDSv2 (PUT a token, then GET spot/instance-action with it): Kiln
  // launches with IMDSv2 required, so a plain GET would be refused (401) forever. A reclaim is also seen by
  // describe (StateReason Server.SpotInstanceTermination → `reclaimed`).
  reclaimNotice: EC2_RECLAIM_NOTICE,
  credentials: { envVars: AWS_ENV_VARS, fileSection: "aws", fileExample: AWS_FILE_EXAMPLE, createAt: AWS_KEYS_PAGE },
  hasCredentials: (ctx) => hasAwsCredentials(ctx.env, ctx.credentialsPath),
  configured,
  check,
  simulate,
  emulate,
};

/**
 * The EC2 provider: Kiln's contract (../provider.ts) over the EC2 API.
 *
 * - **listOffers**: the dated catalog's single types (./catalog.ts) in the configured regions; on-demand at
 *   the catalog price (EC2 has no price API; the Pricing API is us-east-1 only and optional), spot at the
 *   live lowest `DescribeSpotPriceHistory` price of the region, capped at the on-demand price (MaxPrice).
 * - **launch**: the key pair imported once (ImportKeyPair, the name Kiln gives the key), a security group per
 *   installation that opens SSH to the caller's address only, the Deep Learning AMI found by its public SSM
 *   parameter (or a name filter), then one RunInstances with `ClientToken` = the machine name (a retried
 *   launch is the same instance: EC2 answers a repeated token with the first launch's instance),
 *   `InstanceInitiatedShutdownBehavior=terminate` (the watchdog's poweroff ends billing with no cloud key on
 *   the machine), IMDSv2 required, and the tags Name=kiln-<intent>, kiln-installation, kiln-intent.
 * - **describe**: EC2 is eventually consistent: `InvalidInstanceID.NotFound` right after a launch is normal,
 *   so an unknown id is `terminated` with `notFound` and the core waits out the descriptor's listing lag.
 * - **listMachines**: `tag:Name=kiln-*` per region, paginated; **terminate**: idempotent (NotFound is gone).
 */
import { implausiblePrice } from "../price-check.js";
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypeOfferingsCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSpotPriceHistoryCommand,
  ImportKeyPairCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type _InstanceType,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { GetParameterCommand } from "@aws-sdk/client-ssm";
import { type GpuRequest, installationOfIntent, intentIdFromName, LaunchOutcomeUnknownError, type LaunchRequest, type MachineRecord, type MachineState, machineNameFor, type Offer, type Provider, ProviderError, type SupportsSpot } from "../provider.js";
import type { AwsClient } from "./client.js";
import { AWS_INSTANCE_TYPES, type AwsInstanceType, instanceTypeNamed } from "./catalog.js";
import { CATALOG_DATE } from "../catalog-row.js";
import { formatMachineId, parseMachineId } from "./ids.js";
import { DescribeInstancesOut, type Ec2Instance, ImagesOut, OfferingsOut, ParameterOut, parseAws, RunInstancesOut, SecurityGroupsOut, CreateSecurityGroupOut, SpotPriceHistoryOut, tagOf } from "./schema.js";

/**
 * The public SSM parameter of the Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04), x86_64.
 * GUESS, not read from a live account: built by the DLAMI guide's rule (/aws/service/deeplearning/ami/
 * <arch>/<the AMI name without "Deep Learning" and "AMI">/latest/ami-id); the name filter below is the fallback.
 */
export const DLAMI_PARAMETER = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-22.04/latest/ami-id";
/** The same AMI by name (owner amazon), where the parameter is unreadable (no ssm:GetParameter, a wrong guess above). */
export const DLAMI_NAME_FILTER = "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04)*";

export const TAG_INSTALLATION = "kiln-installation";
export const TAG_INTENT = "kiln-intent";

/** EC2's own states (InstanceStateName) → Kiln's. Anything else is "unknown", never guessed. */
const STATES: Record<string, MachineState> = {
  pending: "pending",
  running: "running",
  stopping: "stopping",
  stopped: "stopped",
  "shutting-down": "terminating",
  terminated: "terminated",
};

/** StateReason codes that mean the spot market took the machine (EC2 StateReason.Message docs). */
const RECLAIM_CODES = new Set(["Server.SpotInstanceTermination", "Server.SpotInstanceShutdown"]);

export interface AwsProviderOptions {
  client: AwsClient;
  /** Regions Kiln offers and lists in (the API is regional: one call per region). */
  regions: readonly string[];
  /** The SSH user of the AMI (the DLAMI on Ubuntu: `ubuntu`; emulation: this computer's user). */
  sshUser?: string;
  /** The caller's public IPv4 address, for the SSH rule (real: checkip.amazonaws.com; tests: injected). */
  callerIp(signal: AbortSignal): Promise<string>;
  amiParameter?: string;
  amiNameFilter?: string;
  /**
   * Where the SSH server of a running instance is, from its public address. Real EC2: `ip:22`. Emulation
   * (moto's addresses route nowhere): a test-only resolver to the loopback sshd behind the instance;
   * undefined means "not reachable yet".
   */
  sshEndpoint?(instanceId: string, publicIp: string | undefined): { host: string; port: number } | undefined;
  /** Spot prices newer than this count (DescribeSpotPriceHistory StartTime); default now (the current price). */
  now?: () => Date;
}

export class AwsProvider implements Provider, SupportsSpot {
  readonly name = "aws";
  /** EC2 gives a spot instance two minutes' notice (IMDS spot/instance-action). */
  readonly spotNoticeSeconds = 120;
  readonly #ami = new Map<string, Promise<string>>();
  readonly #securityGroups = new Map<string, string>();
  readonly #keyPairs = new Set<string>();
  readonly #offerings = new Map<string, Set<string>>();

  constructor(readonly o: AwsProviderOptions) {}

  get client(): AwsClient {
    return this.o.client;
  }

  // ---- offers -------------------------------------------------------------------------------------

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    signal.throwIfAborted();
    const regions = this.o.regions.filter((r) => !req.regions || req.regions.includes(r));
    const types = AWS_INSTANCE_TYPES.filter((t) => t.gpuCount === req.count && t.vramGb >= req.minVramGb && (req.gpus === "any" || req.gpus.includes(t.gpu)));
    if (regions.length === 0 || types.length === 0) return [];
    const offers: Offer[] = [];
    for (const region of regions) {
      const sold = await this.#typesSoldIn(region, signal);
      const spot = req.spot === "never" ? new Map<string, { price: number; at: string }>() : await this.#spotPrices(region, types, signal);
      for (const t of types) {
        if (!sold.has(t.instanceType)) continue;
        const base = { provider: this.name, instanceType: t.instanceType, gpu: t.gpu, gpuCount: t.gpuCount, vramGb: t.vramGb, vcpus: t.vcpus, memoryGb: t.memoryGb, diskGb: t.diskGb, region };
        offers.push({ ...base, pricePerHour: t.pricePerHour, spot: false, available: undefined, priceSource: "catalog", priceDate: CATALOG_DATE });
        const s = spot.get(t.instanceType);
        // MaxPrice = the on-demand price: never more than on-demand (what AWS charges at most when MaxPrice is unset).
        // A spot price that is not believable ($0 would turn the dollar cap off) is not offered.
        if (s && implausiblePrice(s.price, t.gpuCount) === undefined && s.price <= t.pricePerHour) offers.push({ ...base, pricePerHour: s.price, capPricePerHour: t.pricePerHour, spot: true, available: undefined, priceSource: "live", priceDate: s.at });
      }
    }
    return offers.filter((x) => req.maxPricePerHour === undefined || x.pricePerHour <= req.maxPricePerHour);
  }

  /**
   * The catalog's types that EC2 sells in the region (DescribeInstanceTypeOfferings): p5.4xlarge, g6e and
   * p4de are in a few regions only. Cached per region for the provider's life (offerings change rarely).
   */
  async #typesSoldIn(region: string, signal: AbortSignal): Promise<Set<string>> {
    const cached = this.#offerings.get(region);
    if (cached) return cached;
    const sold = new Set<string>();
    let token: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = parseAws(
        OfferingsOut,
        await this.o.client.call("DescribeInstanceTypeOfferings", region, signal, (abortSignal) =>
          this.o.client.ec2(region).send(new DescribeInstanceTypeOfferingsCommand({ LocationType: "region", Filters: [{ Name: "instance-type", Values: AWS_INSTANCE_TYPES.map((t) => t.instanceType) }], ...(token && { NextToken: token }) }), { abortSignal }),
        ),
        "DescribeInstanceTypeOfferings",
      );
      for (const x of r.InstanceTypeOfferings ?? []) sold.add(x.InstanceType);
      token = r.NextToken || undefined;
      if (!token) break;
    }
    this.#offerings.set(region, sold);
    return sold;
  }

  /** The lowest current spot price per type in the region (any AZ), from DescribeSpotPriceHistory. */
  async #spotPrices(region: string, types: readonly AwsInstanceType[], signal: AbortSignal): Promise<Map<string, { price: number; at: string }>> {
    const out = new Map<string, { price: number; at: string }>();
    let token: string | undefined;
    const now = this.o.now?.() ?? new Date();
    for (let page = 0; page < 20; page++) {
      const r = parseAws(
        SpotPriceHistoryOut,
        await this.o.client.call("DescribeSpotPriceHistory", region, signal, (abortSignal) =>
          this.o.client.ec2(region).send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: types.map((t) => t.instanceType as _InstanceType), ProductDescriptions: ["Linux/UNIX"], StartTime: now, ...(token && { NextToken: token }) }), { abortSignal }),
        ),
        "DescribeSpotPriceHistory",
      );
      for (const p of r.SpotPriceHistory ?? []) {
        const price = Number(p.SpotPrice);
        const at = p.Timestamp ? new Date(p.Timestamp).toISOString().slice(0, 10) : now.toISOString().slice(0, 10);
        const was = out.get(p.InstanceType);
        if (!was || price < was.price) out.set(p.InstanceType, { price, at });
      }
      token = r.NextToken || undefined;
      if (!token) break;
    }
    return out;
  }

  // ---- launch -------------------------------------------------------------------------------------

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    signal.throwIfAborted();
    const { offer } = req;
    const region = offer.region;
    const type = instanceTypeNamed(offer.instanceType);
    if (!type) throw new ProviderError("aws", "invalid", `Kiln has no EC2 instance type ${JSON.stringify(offer.instanceType)} in its catalog`, { code: "kiln/unknown-instance-type" });
    if (!req.sshKeyName || !req.sshPublicKey) throw new ProviderError("aws", "invalid", "an EC2 launch needs Kiln's SSH key (sshKeyName and sshPublicKey)", { code: "kiln/no-ssh-key" });
    const name = machineNameFor(req.intentId);
    // ClientToken ≤ 64 ASCII characters (EC2): Kiln's names are 24.
    if (name.length > 64) throw new ProviderError("aws", "invalid", `machine name ${name} is longer than EC2's 64-character ClientToken`, { code: "kiln/name-too-long" });
    const installation = installationOfIntent(req.intentId) ?? "legacy";
    const [imageId, groupId] = await Promise.all([this.#amiOf(region, signal), this.#securityGroup(region, installation, signal), this.#keyPair(region, req.sshKeyName, req.sshPublicKey, installation, signal)]);
    const tags = [
      { Key: "Name", Value: name },
      { Key: TAG_INSTALLATION, Value: installation },
      { Key: TAG_INTENT, Value: req.intentId },
    ];
    const input: RunInstancesCommandInput = {
      ImageId: imageId,
      InstanceType: offer.instanceType as RunInstancesCommandInput["InstanceType"],
      MinCount: 1,
      MaxCount: 1,
      KeyName: req.sshKeyName,
      SecurityGroupIds: [groupId],
      // The same token for a retried launch: EC2 answers with the first launch's instance, never a second one.
      ClientToken: name,
      // The watchdog's `shutdown -h now` then terminates (billing ends) with no cloud credential on the machine.
      InstanceInitiatedShutdownBehavior: "terminate",
      MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled" },
      TagSpecifications: [
        { ResourceType: "instance", Tags: tags },
        { ResourceType: "volume", Tags: tags },
      ],
      ...(offer.spot && {
        InstanceMarketOptions: {
          MarketType: "spot",
          SpotOptions: { SpotInstanceType: "one-time", InstanceInterruptionBehavior: "terminate", MaxPrice: (offer.capPricePerHour ?? type.pricePerHour).toFixed(4) },
        },
      }),
    };
    signal.throwIfAborted();
    let out: unknown;
    try {
      out = await this.o.client.call("RunInstances", region, signal, (abortSignal) => this.o.client.ec2(region).send(new RunInstancesCommand(input), { abortSignal }));
    } catch (e) {
      // No answer, or a 5xx that is not EC2's own verdict: the launch may have happened. The token makes a
      // retry safe, and the lifecycle resolves it by name within the listing lag.
      if (e instanceof ProviderError && e.kind === "transient") throw new LaunchOutcomeUnknownError("aws", name, e.message, { cause: e, ...(e.status !== undefined && { status: e.status }) });
      // An answer refused unread as too large may have been the success.
      if (e instanceof ProviderError && e.code === "kiln/response-too-large" && (e.status ?? 200) < 300) throw new LaunchOutcomeUnknownError("aws", name, e.message, { cause: e, ...(e.status !== undefined && { status: e.status }) });
      throw e;
    }
    let instance: Ec2Instance;
    try {
      instance = parseAws(RunInstancesOut, out, "RunInstances").Instances[0]!;
    } catch (e) {
      throw new LaunchOutcomeUnknownError("aws", name, `RunInstances answered without a readable instance (${(e as Error).message})`, { cause: e });
    }
    return this.#record(region, instance, offer.pricePerHour);
  }

  async #amiOf(region: string, signal: AbortSignal): Promise<string> {
    let p = this.#ami.get(region);
    if (!p) {
      p = this.#lookUpAmi(region, signal);
      this.#ami.set(region, p);
      p.catch(() => this.#ami.delete(region));
    }
    return p;
  }

  async #lookUpAmi(region: string, signal: AbortSignal): Promise<string> {
    const parameter = this.o.amiParameter ?? DLAMI_PARAMETER;
    const fromParameter = await this.o.client.callOr(
      "ssm:GetParameter",
      region,
      signal,
      async (abortSignal) => parseAws(ParameterOut, await this.o.client.ssm(region).send(new GetParameterCommand({ Name: parameter }), { abortSignal }), "ssm:GetParameter").Parameter.Value,
      (e) => {
        // A missing parameter or no ssm:GetParameter: fall back to the name filter. Anything else is real.
        if (e.code === "ParameterNotFound" || e.kind === "auth") return undefined;
        throw e;
      },
    );
    if (fromParameter) return fromParameter;
    const images = parseAws(
      ImagesOut,
      await this.o.client.call("DescribeImages", region, signal, (abortSignal) =>
        this.o.client.ec2(region).send(new DescribeImagesCommand({ Owners: ["amazon"], Filters: [{ Name: "name", Values: [this.o.amiNameFilter ?? DLAMI_NAME_FILTER] }, { Name: "state", Values: ["available"] }] }), { abortSignal }),
      ),
      "DescribeImages",
    ).Images;
    const newest = [...(images ?? [])].sort((a, b) => (b.CreationDate ?? "").localeCompare(a.CreationDate ?? ""))[0];
    if (!newest) throw new ProviderError("aws", "invalid", `no Deep Learning AMI in ${region}: SSM parameter ${parameter} is missing and no image matches ${JSON.stringify(this.o.amiNameFilter ?? DLAMI_NAME_FILTER)}`, { code: "kiln/no-ami" });
    return newest.ImageId;
  }

  /** Kiln's key pair in this region, imported once under the name Kiln gives the key (a hash of it). */
  async #keyPair(region: string, keyName: string, publicKey: string, installation: string, signal: AbortSignal): Promise<void> {
    const k = `${region}/${keyName}`;
    if (this.#keyPairs.has(k)) return;
    const exists = await this.o.client.callOr(
      "DescribeKeyPairs",
      region,
      signal,
      async (abortSignal) => ((await this.o.client.ec2(region).send(new DescribeKeyPairsCommand({ KeyNames: [keyName] }), { abortSignal })).KeyPairs ?? []).length > 0,
      (e) => {
        if (e.code === "InvalidKeyPair.NotFound") return false;
        throw e;
      },
    );
    if (!exists) {
      await this.o.client.callOr(
        "ImportKeyPair",
        region,
        signal,
        (abortSignal) =>
          this.o.client.ec2(region).send(
            new ImportKeyPairCommand({ KeyName: keyName, PublicKeyMaterial: new TextEncoder().encode(publicKey.trim()), TagSpecifications: [{ ResourceType: "key-pair", Tags: [{ Key: TAG_INSTALLATION, Value: installation }] }] }),
            { abortSignal },
          ),
        (e) => {
          // Another launch imported it meanwhile: the name is a hash of the key, so it is the same key.
          if (e.code === "InvalidKeyPair.Duplicate") return undefined;
          throw e;
        },
      );
    }
    this.#keyPairs.add(k);
  }

  /** The installation's security group in the region's default VPC: SSH from the caller's address only. */
  async #securityGroup(region: string, installation: string, signal: AbortSignal): Promise<string> {
    const groupName = `kiln-ssh-${installation}`;
    const ip = await this.o.callerIp(signal);
    const cidr = `${ip}/32`;
    const k = `${region}/${groupName}/${cidr}`;
    const known = this.#securityGroups.get(k);
    if (known) return known;
    const ec2 = this.o.client.ec2(region);
    const found = parseAws(
      SecurityGroupsOut,
      await this.o.client.call("DescribeSecurityGroups", region, signal, (abortSignal) => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: "group-name", Values: [groupName] }] }), { abortSignal })),
      "DescribeSecurityGroups",
    ).SecurityGroups?.[0];
    let groupId = found?.GroupId;
    if (!groupId) {
      groupId = await this.o.client.callOr(
        "CreateSecurityGroup",
        region,
        signal,
        async (abortSignal) =>
          parseAws(
            CreateSecurityGroupOut,
            await ec2.send(
              new CreateSecurityGroupCommand({ GroupName: groupName, Description: `Kiln ${installation}: SSH from the Kiln client's address only`, TagSpecifications: [{ ResourceType: "security-group", Tags: [{ Key: TAG_INSTALLATION, Value: installation }] }] }),
              { abortSignal },
            ),
            "CreateSecurityGroup",
          ).GroupId,
        (e) => {
          if (e.code === "InvalidGroup.Duplicate") return undefined;
          throw e;
        },
      );
      groupId ??= parseAws(
        SecurityGroupsOut,
        await this.o.client.call("DescribeSecurityGroups", region, signal, (abortSignal) => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: "group-name", Values: [groupName] }] }), { abortSignal })),
        "DescribeSecurityGroups",
      ).SecurityGroups?.[0]?.GroupId;
      if (!groupId) throw new ProviderError("aws", "transient", `security group ${groupName} in ${region} was created but is not listed yet`, { code: "kiln/security-group-lag" });
    }
    const id = groupId;
    // A new client address (another network) adds its /32; the old ones stay until the user removes them.
    await this.o.client.callOr(
      "AuthorizeSecurityGroupIngress",
      region,
      signal,
      (abortSignal) => ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: cidr, Description: "Kiln client" }] }] }), { abortSignal }),
      (e) => {
        if (e.code === "InvalidPermission.Duplicate") return undefined;
        throw e;
      },
    );
    this.#securityGroups.set(k, id);
    return id;
  }

  // ---- describe, list, terminate ------------------------------------------------------------------

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    const { region, instanceId } = parseMachineId(id);
    const found = await this.o.client.callOr(
      "DescribeInstances",
      region,
      signal,
      async (abortSignal) => parseAws(DescribeInstancesOut, await this.o.client.ec2(region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal }), "DescribeInstances"),
      (e) => {
        if (e.code === "InvalidInstanceID.NotFound" || e.code === "InvalidInstanceID.Malformed") return undefined;
        throw e;
      },
    );
    const instance = found?.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
    if (!instance) {
      // EC2 is eventually consistent: right after RunInstances this is normal, so the core gives it the lag.
      return { provider: this.name, id, name: "", intentId: undefined, state: "terminated", providerState: "InvalidInstanceID.NotFound", instanceType: "", region, pricePerHour: 0, notFound: true };
    }
    return this.#record(region, instance);
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    const out: MachineRecord[] = [];
    for (const region of this.o.regions) {
      let token: string | undefined;
      for (let page = 0; page < 100; page++) {
        const r = parseAws(
          DescribeInstancesOut,
          await this.o.client.call("DescribeInstances", region, signal, (abortSignal) =>
            this.o.client.ec2(region).send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:Name", Values: ["kiln-*"] }], MaxResults: 1000, ...(token && { NextToken: token }) }), { abortSignal }),
          ),
          "DescribeInstances",
        );
        for (const i of r.Reservations?.flatMap((x) => x.Instances ?? []) ?? []) {
          // The filter is EC2's; the check is Kiln's own (an emulator or a future filter change must not widen it).
          if (tagOf(i, "Name")?.startsWith("kiln-")) out.push(this.#record(region, i));
        }
        token = r.NextToken || undefined;
        if (!token) break;
      }
    }
    return out;
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    const { region, instanceId } = parseMachineId(id);
    await this.o.client.callOr(
      "TerminateInstances",
      region,
      signal,
      (abortSignal) => this.o.client.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }), { abortSignal }),
      (e) => {
        // Idempotent: an id EC2 does not know (never launched, or terminated long ago) is gone.
        if (e.code === "InvalidInstanceID.NotFound" || e.code === "InvalidInstanceID.Malformed") return undefined;
        throw e;
      },
    );
  }

  #record(region: string, i: Ec2Instance, knownPrice?: number): MachineRecord {
    const name = tagOf(i, "Name") ?? i.ClientToken ?? "";
    const providerState = i.State.Name;
    let state: MachineState = STATES[providerState] ?? "unknown";
    const type = instanceTypeNamed(i.InstanceType);
    const spot = i.InstanceLifecycle === "spot";
    const id = formatMachineId(region, i.InstanceId);
    let ssh: MachineRecord["ssh"];
    if (state === "running") {
      const ep = this.o.sshEndpoint ? this.o.sshEndpoint(i.InstanceId, i.PublicIpAddress) : i.PublicIpAddress ? { host: i.PublicIpAddress, port: 22 } : undefined;
      // Running means reachable too: without a public address (or its sshd, emulated) it is not usable yet.
      if (ep) ssh = { ...ep, user: this.o.sshUser ?? "ubuntu" };
      else state = "pending";
    }
    const reasonCode = i.StateReason?.Code;
    const reclaimed = spot && reasonCode && RECLAIM_CODES.has(reasonCode) ? { reason: `${reasonCode}: ${i.StateReason?.Message ?? "the spot market reclaimed the instance"}` } : undefined;
    return {
      provider: this.name,
      id,
      name,
      intentId: tagOf(i, TAG_INTENT) ?? intentIdFromName(name),
      state,
      providerState: reasonCode && state === "terminated" ? `${providerState} (${reasonCode})` : providerState,
      instanceType: i.InstanceType,
      region,
      // On-demand: the catalog price; spot: what the launch expected (the live spot price varies).
      pricePerHour: knownPrice ?? type?.pricePerHour ?? 0,
      ...(ssh && { ssh }),
      ...(i.LaunchTime !== undefined && { launchedAt: new Date(i.LaunchTime).toISOString() }),
      ...(reclaimed && { reclaimed }),
    };
  }
}

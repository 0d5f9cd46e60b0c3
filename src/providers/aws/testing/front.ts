/**
 * A narrow shim in front of moto's EC2 (moto is the EC2 emulator; this adds only what moto lacks, each named
 * below). Every API request is forwarded to moto unchanged (SigV4 is checked by moto, so the Host header is
 * kept); the shim only adds, on top:
 *
 * 1. **Machines.** moto's instances are records; each one here is backed by a real loopback sshd (the kit's
 *    SshdMachines) that authorizes the public key imported under the launch's KeyName, so Kiln's SSH, sync
 *    and run code runs for real. moto's public addresses (54.x) route nowhere, so `GET /__kiln/machines`
 *    maps each instance id and address to its sshd: the test-only resolver the emulated provider uses.
 * 2. **ClientToken idempotency.** moto 5.2 ignores ClientToken: a second RunInstances with the same token
 *    launches a second instance. EC2 answers it with the first launch's instance, so the shim replays it.
 * 3. **Spot prices.** moto's DescribeSpotPriceHistory answers a placeholder (0.00001 USD, dated 2006-01-02)
 *    for every type; the shim answers a price per type (default: the catalog's spot price, or 35 % of
 *    on-demand) dated now, and bills spot instances at it.
 * 4. **Shutdown behaviour.** moto has no guest OS, so nothing can shut an instance down from inside. The
 *    emulated machine's poweroff writes `<machine dir>/powered-off`; the shim sees it and does what EC2 does
 *    on an OS shutdown: reads the instance's InstanceInitiatedShutdownBehavior from moto and terminates
 *    (`terminate`) or stops (`stop`) it in moto.
 * 5. **Spot reclaim.** moto cannot interrupt a spot instance, has no Server.SpotInstanceTermination state
 *    reason and no instance metadata service. `reclaim(id)` serves the two-minute notice on an IMDSv2
 *    emulation (`PUT /__imds/<id>/latest/api/token`, then `GET /__imds/<id>/latest/meta-data/spot/instance-action`
 *    with the token: 401 without it, 404 until a notice, then `{"action":"terminate","time":…}`), terminates
 *    the instance in moto after the notice, and rewrites its StateReason to Server.SpotInstanceTermination.
 * 6. **Faults** (the kit's FaultPlan, matched on POST and the Action name): `capacity`
 *    (InsufficientInstanceCapacity, a 500 as EC2 sends it), `quota` (VcpuLimitExceeded), `rate-limit`
 *    (RequestLimitExceeded, 503), `error-5xx` (InternalError), `html-error`, `lost-response` (forwarded, then
 *    the connection is cut), `hang`, `slow`, `listing-lag` (a new instance is missing from DescribeInstances,
 *    InvalidInstanceID.NotFound by id, as EC2's eventual consistency does right after a launch).
 * 7. **A billing meter**: per-second from RunInstances to terminate (or stop), at the catalog's on-demand
 *    price or the spot price served.
 */
import { DescribeInstanceAttributeCommand, EC2Client, StopInstancesCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { existsSync } from "node:fs";
import { request } from "node:http";
import { dirname, join } from "node:path";
import { type MeteredMachine, BillingMeter } from "../../emulator-kit/billing.js";
import { type FaultRule, FaultPlan, ListingLag, seededRandom } from "../../emulator-kit/faults.js";
import { type EmuReply, type EmuRequest, serveJson } from "../../emulator-kit/http.js";
import { SshdMachines } from "../../emulator-kit/sshd-machines.js";
import { instanceTypeNamed } from "../catalog.js";
import type { MotoEc2 } from "./moto.js";
import { ec2ErrorXml, instanceIdsIn, itemsOf, patchRanges, textOf } from "./xml.js";

export interface Ec2FrontOptions {
  moto: MotoEc2;
  host?: string;
  port?: number;
  faults?: readonly FaultRule[];
  seed?: number;
  /** Delay before an instance's sshd starts (its boot); default 0. */
  bootDelayMs?: number;
  /** Environment of every command run on the machines (e.g. FAKE_STEPS). */
  machineEnv?: Record<string, string>;
  /** The spot price the shim serves and bills per type; default the catalog's spot price or 35 % of on-demand. */
  spotPriceOf?(instanceType: string): number;
  /** How often the shim looks for powered-off machines; default 200 ms. */
  powerPollMs?: number;
  /** Sees every EC2 Query request (form-encoded) before it is answered: the spec check's tap. */
  observe?(form: URLSearchParams): void;
}

export interface FrontInstance {
  instanceId: string;
  region: string;
  instanceType: string;
  spot: boolean;
  publicIp: string | undefined;
  pricePerHour: number;
  status: string;
  name: string | undefined;
  ssh?: { host: string; port: number };
  reclaimNotice?: { action: string; time: string };
}

export interface Ec2Front {
  url: string;
  moto: MotoEc2;
  inject(rule: FaultRule): void;
  clearFaults(): void;
  instances(): FrontInstance[];
  billed(): MeteredMachine[];
  homeOf(instanceId: string): string | undefined;
  /** The machine's own directory (its sshd's), where its poweroff is recorded. */
  machineDirOf(instanceId: string): string | undefined;
  /**
   * Reclaim a spot instance: the IMDS notice now, the termination after `noticeMs` (default 0; EC2 gives
   * 120 s), or as soon as the machine has read the notice when `untilNoticeRead` (a test's short cut).
   */
  reclaim(instanceId: string, o?: { noticeMs?: number; untilNoticeRead?: boolean }): Promise<void>;
  /** Only the first half of a reclaim: serve the IMDS notice (a later `reclaim` terminates). */
  notice(instanceId: string): void;
  /** A direct moto client with the admin key (the test's view of moto's own state, bypassing the shim). */
  motoEc2(): EC2Client;
  close(): Promise<void>;
}

const RAW_TYPES = ["application/x-www-form-urlencoded", "application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json", "text/plain", ""];
const XML = "text/xml;charset=UTF-8";

export const defaultSpotPrice = (type: string): number => {
  const t = instanceTypeNamed(type);
  if (!t) return 0.1;
  return t.spotPricePerHour ?? Math.round(t.pricePerHour * 0.35 * 10_000) / 10_000;
};

/** EC2's notice body: the action and when it happens, two minutes from now (whole seconds, Z). */
const noticeNow = () => ({ action: "terminate", time: new Date(Date.now() + 120_000).toISOString().replace(/\.\d+Z$/, "Z") });

export async function startEc2Front(o: Ec2FrontOptions): Promise<Ec2Front> {
  const moto = o.moto;
  const motoUrl = new URL(moto.url);
  const faults = new FaultPlan(o.faults ?? [], seededRandom(o.seed ?? 1));
  const lag = new ListingLag();
  // The meter starts at the instance's LaunchTime as moto reports it (whole seconds, as EC2's), the time
  // Kiln's ledger records, so the two bills agree; `clock` holds it while a start is recorded.
  let clock: number | undefined;
  const meter = new BillingMeter(() => clock ?? Date.now());
  const machines = new SshdMachines({ ...(o.machineEnv && { env: o.machineEnv }) });
  const instances = new Map<string, FrontInstance>();
  const keys = new Map<string, string>();
  const tokens = new Map<string, { status: number; text: string }>();
  const imdsTokens = new Map<string, { instanceId: string; expiresMs: number }>();
  const reclaimed = new Set<string>();
  const noticeRead = new Map<string, () => void>();
  const spotPriceOf = o.spotPriceOf ?? defaultSpotPrice;
  const direct = new EC2Client({ endpoint: moto.url, region: moto.region, credentials: { accessKeyId: moto.admin.id, secretAccessKey: moto.admin.secret }, maxAttempts: 1 });
  let closed = false;

  const forward = (r: EmuRequest): Promise<{ status: number; text: string; contentType: string; headers: Record<string, string> }> =>
    new Promise((resolve, reject) => {
      const headers = { ...r.headers };
      delete headers["content-length"];
      const body = Buffer.from(r.rawBody, "utf8");
      const q = r.query.toString();
      const req = request({ host: motoUrl.hostname, port: motoUrl.port, method: r.method, path: `${r.path}${q ? `?${q}` : ""}`, headers: { ...headers, "content-length": String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h: Record<string, string> = {};
          const rid = res.headers["x-amzn-requestid"];
          if (typeof rid === "string") h["x-amzn-requestid"] = rid;
          resolve({ status: res.statusCode ?? 502, text: Buffer.concat(chunks).toString("utf8"), contentType: String(res.headers["content-type"] ?? XML), headers: h });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });

  const ended = async (instanceId: string, status: string) => {
    const i = instances.get(instanceId);
    if (!i || i.status === "terminated") return;
    i.status = status;
    meter.end(instanceId);
    delete i.ssh;
    await machines.stop(instanceId);
  };

  const startMachine = async (i: FrontInstance, keyName: string | undefined) => {
    if (o.bootDelayMs) await new Promise((r) => setTimeout(r, o.bootDelayMs));
    if (closed || i.status !== "running") return;
    const key = keyName ? keys.get(keyName) : undefined;
    const ep = await machines.start(i.instanceId, key ? [key] : []);
    if (i.status !== "running") {
      await machines.stop(i.instanceId);
      return;
    }
    i.ssh = ep;
  };

  const onRunInstances = (form: URLSearchParams, text: string, region: string) => {
    const spot = form.get("InstanceMarketOptions.MarketType") === "spot";
    const type = form.get("InstanceType") ?? "";
    const name = [...form.entries()].find(([k, v]) => /^TagSpecification\.\d+\.Tag\.\d+\.Key$/.test(k) && v === "Name");
    const nameValue = name ? form.get(name[0].replace(/Key$/, "Value")) ?? undefined : undefined;
    for (const [s, e] of itemsOf(text, "instancesSet")) {
      const item = text.slice(s, e);
      const instanceId = textOf(item, "instanceId");
      if (!instanceId || instances.has(instanceId)) continue;
      const price = spot ? spotPriceOf(type) : (instanceTypeNamed(type)?.pricePerHour ?? 0);
      const i: FrontInstance = { instanceId, region, instanceType: type, spot, publicIp: textOf(item, "ipAddress"), pricePerHour: price, status: "running", name: nameValue };
      instances.set(instanceId, i);
      const launched = Date.parse(textOf(item, "launchTime") ?? "");
      clock = Number.isNaN(launched) ? undefined : Math.min(launched, Date.now());
      meter.start(instanceId, price, () => i.status);
      clock = undefined;
      void startMachine(i, form.get("KeyName") ?? undefined).catch(() => {
        // The sshd did not start: the instance stays unreachable (pending to Kiln), as a broken boot would.
      });
    }
  };

  /** DescribeInstances: hide lagging instances, and give reclaimed ones EC2's spot state reason. */
  const patchDescribe = (form: URLSearchParams, text: string): EmuReply | undefined => {
    const asked = [...form.entries()].filter(([k]) => /^InstanceId\.\d+$/.test(k)).map(([, v]) => v);
    const hiddenAsked = asked.filter((id) => lag.hides(id));
    if (hiddenAsked.length > 0) return { status: 400, text: ec2ErrorXml("InvalidInstanceID.NotFound", `The instance ID '${hiddenAsked.join(", ")}' does not exist`), contentType: XML };
    const reservations = itemsOf(text, "reservationSet");
    const dropped = reservations.filter(([s, e]) => instanceIdsIn(text.slice(s, e)).some((id) => !asked.includes(id) && instances.has(id) && lag.hides(id)));
    let out = text;
    if (dropped.length > 0) out = patchRanges(out, dropped, () => "");
    if (reclaimed.size > 0) {
      out = patchRanges(out, itemsOf(out, "reservationSet"), (res) =>
        patchRanges(res, itemsOf(res, "instancesSet"), (inst) => {
          const id = textOf(inst, "instanceId");
          if (!id || !reclaimed.has(id)) return inst;
          const reason = "<stateReason><code>Server.SpotInstanceTermination</code><message>Server.SpotInstanceTermination: Spot instance termination</message></stateReason>";
          const cleared = inst.replace(/<stateReason>[\s\S]*?<\/stateReason>/, "");
          return `${cleared.slice(0, -"</item>".length)}${reason}</item>`;
        }),
      );
    }
    return out === text ? undefined : { status: 200, text: out, contentType: XML };
  };

  const patchSpotPrices = (text: string): string => {
    const now = new Date().toISOString();
    return patchRanges(text, itemsOf(text, "spotPriceHistorySet"), (item) => {
      const type = textOf(item, "instanceType") ?? "";
      return item.replace(/<spotPrice>[^<]*<\/spotPrice>/, `<spotPrice>${spotPriceOf(type).toFixed(6)}</spotPrice>`).replace(/<timestamp>[^<]*<\/timestamp>/, `<timestamp>${now}</timestamp>`);
    });
  };

  const faultReply = (rule: FaultRule, action: string): EmuReply | "forward-then-lose" | "lag" | undefined => {
    switch (rule.kind) {
      case "capacity":
        return { status: 500, text: ec2ErrorXml("InsufficientInstanceCapacity", "We currently do not have sufficient capacity in the Availability Zone you requested."), contentType: XML };
      case "quota":
        return { status: 400, text: ec2ErrorXml("VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to."), contentType: XML };
      case "spot-quota":
        return { status: 400, text: ec2ErrorXml("MaxSpotInstanceCountExceeded", "Max spot instance count exceeded"), contentType: XML };
      case "rate-limit":
        return { status: 503, text: ec2ErrorXml("RequestLimitExceeded", "Request limit exceeded."), contentType: XML };
      case "error-5xx":
        return { status: rule.status ?? 500, text: ec2ErrorXml("InternalError", "An internal error has occurred"), contentType: XML };
      case "unauthorized":
        return { status: 403, text: ec2ErrorXml("UnauthorizedOperation", `You are not authorized to perform this operation (${action}).`), contentType: XML };
      case "html-error":
        return { status: rule.status ?? 502, text: "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>", contentType: "text/html" };
      case "malformed":
        return { status: 200, text: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><reservationSet><item><instancesSet><item><instanceState><name>running</name></instanceState></item></instancesSet></item></reservationSet></${action}Response>`, contentType: XML };
      case "hang":
        return { hang: true };
      case "lost-response":
        return "forward-then-lose";
      case "listing-lag":
        return "lag";
      default:
        return undefined;
    }
  };

  const imds = (r: EmuRequest): EmuReply => {
    const m = /^\/__imds\/(i-[0-9a-f]+)\/latest\/(.*)$/.exec(r.path);
    if (!m) return { status: 404, text: "Not Found", contentType: "text/plain" };
    const [, instanceId, rest] = m as unknown as [string, string, string];
    const i = instances.get(instanceId);
    if (i?.status !== "running") return { status: 404, text: "Not Found", contentType: "text/plain" };
    if (rest === "api/token") {
      const ttl = Number(r.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (r.method !== "PUT" || !(ttl >= 1 && ttl <= 21_600)) return { status: 400, text: "Bad Request", contentType: "text/plain" };
      const token = crypto.randomUUID();
      imdsTokens.set(token, { instanceId, expiresMs: Date.now() + ttl * 1000 });
      return { status: 200, text: token, contentType: "text/plain", headers: { "x-aws-ec2-metadata-token-ttl-seconds": String(ttl) } };
    }
    const t = imdsTokens.get(String(r.headers["x-aws-ec2-metadata-token"] ?? ""));
    if (!t || t.instanceId !== instanceId || t.expiresMs < Date.now()) return { status: 401, text: "Unauthorized", contentType: "text/plain" };
    if (rest === "meta-data/instance-id") return { status: 200, text: instanceId, contentType: "text/plain" };
    if (rest === "meta-data/spot/instance-action") {
      if (!i.reclaimNotice) return { status: 404, text: "Not Found", contentType: "text/plain" };
      noticeRead.get(instanceId)?.();
      return { status: 200, body: i.reclaimNotice };
    }
    return { status: 404, text: "Not Found", contentType: "text/plain" };
  };

  const handler = async (r: EmuRequest): Promise<EmuReply> => {
    if (r.path === "/__kiln/machines" && r.method === "GET") {
      return { status: 200, body: [...instances.values()].map((i) => ({ instanceId: i.instanceId, publicIp: i.publicIp ?? null, status: i.status, ...(i.ssh && { host: i.ssh.host, port: i.ssh.port }) })) };
    }
    if (r.path.startsWith("/__imds/")) return imds(r);
    const target = String(r.headers["x-amz-target"] ?? "");
    const form = new URLSearchParams(target ? "" : r.rawBody);
    const action = target ? (target.split(".").pop() ?? target) : (form.get("Action") ?? "");
    if (!target && form.get("Version") === "2016-11-15") o.observe?.(form);
    const region = /Credential=[^/]+\/\d+\/([a-z0-9-]+)\//.exec(String(r.headers.authorization ?? ""))?.[1] ?? moto.region;
    if (action === "ImportKeyPair") {
      const name = form.get("KeyName");
      const material = form.get("PublicKeyMaterial");
      if (name && material) keys.set(name, Buffer.from(material, "base64").toString("utf8").trim());
    }
    const token = action === "RunInstances" ? form.get("ClientToken") : null;
    const rule = faults.pick("POST", action);
    const f = rule ? faultReply(rule, action) : undefined;
    if (f && f !== "forward-then-lose" && f !== "lag") return f;
    if (token && tokens.has(token)) {
      // EC2 answers a repeated ClientToken with the first launch (moto would launch again).
      const first = tokens.get(token)!;
      return f === "forward-then-lose" ? { lose: true } : { status: first.status, text: first.text, contentType: XML };
    }
    const res = await forward(r);
    let reply: EmuReply = { status: res.status, text: res.text, contentType: res.contentType, headers: res.headers };
    if (res.status === 200) {
      if (action === "RunInstances") {
        onRunInstances(form, res.text, region);
        if (token) tokens.set(token, { status: res.status, text: res.text });
        if (f === "lag" && rule) for (const id of instanceIdsIn(res.text)) lag.start(id, rule);
      } else if (action === "TerminateInstances") {
        for (const [k, v] of form.entries()) if (/^InstanceId\.\d+$/.test(k)) await ended(v, "terminated");
      } else if (action === "DescribeInstances") {
        reply = patchDescribe(form, res.text) ?? reply;
      } else if (action === "DescribeSpotPriceHistory") {
        reply = { ...reply, text: patchSpotPrices(res.text) };
      }
    }
    if (rule?.kind === "slow" && "status" in reply) reply = { ...reply, delayMs: rule.delayMs ?? 1000 };
    return f === "forward-then-lose" ? { lose: true } : reply;
  };

  const http = await serveJson(handler, {
    host: o.host ?? "127.0.0.1",
    port: o.port ?? 0,
    rawContentTypes: RAW_TYPES,
    badRequest: (why) => ({ status: 400, text: ec2ErrorXml("InvalidParameterValue", why), contentType: XML }),
    internalError: () => ({ status: 500, text: ec2ErrorXml("InternalError", "the shim in front of moto failed"), contentType: XML }),
  });

  /** EC2 on an OS shutdown: terminate or stop, by the instance's InstanceInitiatedShutdownBehavior. */
  const poweredOff = async (i: FrontInstance) => {
    const attr = await direct.send(new DescribeInstanceAttributeCommand({ InstanceId: i.instanceId, Attribute: "instanceInitiatedShutdownBehavior" }));
    if (attr.InstanceInitiatedShutdownBehavior?.Value === "terminate") {
      await direct.send(new TerminateInstancesCommand({ InstanceIds: [i.instanceId] }));
      await ended(i.instanceId, "terminated");
    } else {
      await direct.send(new StopInstancesCommand({ InstanceIds: [i.instanceId] }));
      await ended(i.instanceId, "stopped");
    }
  };
  let polling = false;
  const poll = setInterval(() => {
    if (polling) return;
    polling = true;
    void (async () => {
      for (const i of instances.values()) {
        if (i.status !== "running") continue;
        const home = machines.homeOf(i.instanceId);
        if (home && existsSync(join(dirname(home), "powered-off"))) await poweredOff(i).catch(() => undefined);
      }
    })().finally(() => {
      polling = false;
    });
  }, o.powerPollMs ?? 200);
  poll.unref();

  return {
    url: http.url,
    moto,
    inject: (rule) => faults.add(rule),
    clearFaults: () => faults.clear(),
    instances: () => [...instances.values()].map((i) => ({ ...i })),
    billed: () => meter.billed(),
    homeOf: (id) => machines.homeOf(id),
    machineDirOf: (id) => {
      const h = machines.homeOf(id);
      return h ? dirname(h) : undefined;
    },
    reclaim: async (instanceId, ro = {}) => {
      const i = instances.get(instanceId);
      if (i?.status !== "running") throw new Error(`no running instance ${instanceId} to reclaim`);
      if (!i.spot) throw new Error(`${instanceId} is not a spot instance: EC2 never reclaims on-demand instances`);
      const read = new Promise<void>((r) => noticeRead.set(instanceId, r));
      i.reclaimNotice ??= noticeNow();
      let timer: NodeJS.Timeout | undefined;
      const waited = ro.noticeMs ? new Promise<void>((r) => (timer = setTimeout(r, ro.noticeMs))) : Promise.resolve();
      await (ro.untilNoticeRead ? Promise.race([read, waited]) : waited);
      clearTimeout(timer);
      noticeRead.delete(instanceId);
      reclaimed.add(instanceId);
      await direct.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      await ended(instanceId, "terminated");
    },
    notice: (instanceId) => {
      const i = instances.get(instanceId);
      if (i?.status !== "running" || !i.spot) throw new Error(`no running spot instance ${instanceId}`);
      i.reclaimNotice ??= noticeNow();
    },
    motoEc2: () => direct,
    close: async () => {
      closed = true;
      clearInterval(poll);
      await http.close();
      await machines.closeAll();
      direct.destroy();
    },
  };
}


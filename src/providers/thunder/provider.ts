/**
 * Thunder Compute as a Kiln {@link Provider} (contract in ../provider.ts), over {@link ThunderClient}.
 *
 * **Identity without a name.** Thunder's create takes no name, label or tag, so `kiln-<intentId>` cannot be
 * stored the usual way. Kiln puts it in the comment of the public key it passes at create (marker.ts), and
 * `listMachines` returns exactly the instances whose `sshPublicKeys[]` carry such a comment, named by it —
 * ledger-independent, so reconciliation, `kiln gc` and the lifecycle's findByIntent work unchanged. Anything
 * else on the account is the user's and is never returned, so never touched.
 *
 * **Lost create answers** (timeout, reset, 5xx, a 2xx Kiln cannot read) are resolved here, never by a second
 * create. Launches are serialised per account (one in flight per token in this process), and each takes a
 * listing just before its create. After an unknown outcome the provider lists again until the listing lag has
 * passed with two clean answers: the instance carrying this intent's marker is the machine; failing that, a
 * single instance that appeared since the pre-launch listing, carries Kiln's key material and has the offer's
 * GPU type and count is adopted (remembered in this process, so listMachines names it too). Two or more such
 * instances stop the launch with an error naming them (never a guess, never a relaunch); none means nothing
 * was created, and the lifecycle tries the next offer. A listing that keeps failing rethrows the unknown
 * outcome, and the lifecycle's findByIntent takes over by name.
 *
 * Other quirks: there is no GET for one instance (describe lists and picks); the listing's map key is what
 * thunder-cli deletes by, but Kiln's machine id is the instance's `uuid` — stable, where the key looks like an
 * index ("0", "1") that may be reused — and terminate looks the key up afresh (GUESS: the live API may accept
 * the uuid too; the spec's delete example is a UUID). No spot, no stop, no regions.
 */
import { sleep } from "../../base/deadline.js";
import { diskForLaunch, type GpuRequest, intentIdFromName, type LaunchRequest, LaunchOutcomeUnknownError, type MachineRecord, type Offer, type Provider, ProviderError, machineNameFor } from "../provider.js";
import type { ThunderClient } from "./client.js";
import { keyMaterial, markedKey, markerOf } from "./marker.js";
import { INCLUDED_DISK_GB, instanceTypeOf, matches, offersFrom, parseInstanceType, THUNDER_REGION } from "./offers.js";
import type { ThunderListItem, ThunderMode } from "./schema.js";
import { thunderState } from "./states.js";

export interface ThunderProviderOptions {
  client: ThunderClient;
  /** Modes Kiln offers; default production only (see offers.ts). */
  modes?: readonly ThunderMode[];
  /** Create's `template` (an OS image); thunder-cli's default is "base". */
  template?: string;
  /** Thunder's login user ("ubuntu", runbook; low trust) — the emulator's is the local user. */
  sshUser?: string;
  /** How long a created instance may be missing from the listing, for resolving lost create answers. */
  listingLagMs?: number;
  now?: () => Date;
}

/** One launch in flight per account: the listing diff that resolves a lost answer needs it. */
const accountLocks = new Map<string, Promise<unknown>>();

async function withAccountLock<T>(account: string, body: () => Promise<T>): Promise<T> {
  const before = accountLocks.get(account) ?? Promise.resolve();
  const run = before.then(body, body);
  const tail = run.catch(() => undefined);
  accountLocks.set(account, tail);
  try {
    return await run;
  } finally {
    if (accountLocks.get(account) === tail) accountLocks.delete(account);
  }
}

export class ThunderProvider implements Provider {
  readonly name = "thunder" as const;
  readonly client: ThunderClient;
  readonly #o: ThunderProviderOptions;
  readonly #account: string;
  /** Instances adopted after a lost create answer whose marker the listing does not show: uuid → machine name. */
  readonly #adopted = new Map<string, string>();
  /** Prices per instance type from the last listOffers, for records the listing gives no price for. */
  readonly #prices = new Map<string, number>();

  constructor(o: ThunderProviderOptions) {
    this.client = o.client;
    this.#o = o;
    this.#account = `${o.client.baseUrl}#${o.client.accountId}`;
  }

  async listOffers(req: GpuRequest, signal: AbortSignal): Promise<Offer[]> {
    const [specs, pricing] = await Promise.all([this.client.specs(signal), this.client.pricing(signal)]);
    const offers = offersFrom(specs, pricing, this.#now().toISOString().slice(0, 10), { modes: this.#o.modes ?? ["production"], warn: (m) => this.client.log.warn(m) });
    for (const o of offers) this.#prices.set(o.instanceType, o.pricePerHour);
    return offers.filter((o) => matches(o, req));
  }

  async launch(req: LaunchRequest, signal: AbortSignal): Promise<MachineRecord> {
    const name = machineNameFor(req.intentId);
    const shape = parseInstanceType(req.offer.instanceType);
    if (!shape) throw new ProviderError("thunder", "invalid", `"${req.offer.instanceType}" is not a Thunder instance type Kiln made (<gpu>_x<n>_<mode>)`);
    if (!req.sshPublicKey) throw new ProviderError("thunder", "invalid", "a Thunder launch needs Kiln's public key: the key's comment is the only place Thunder keeps kiln-<intent>");
    const publicKey = markedKey(req.sshPublicKey, req.intentId);
    return withAccountLock(this.#account, async () => {
      signal.throwIfAborted();
      const before = await this.client.listInstances(signal);
      // This intent already has its machine (a relaunch after a crash between create and the ledger): the same machine.
      const existing = before.find((i) => markerOf(i.sshPublicKeys) === name);
      if (existing) return this.#record(existing);
      const body = { cpu_cores: req.offer.vcpus ?? 4, disk_size_gb: diskForLaunch("thunder", req, req.offer.diskGb ?? INCLUDED_DISK_GB), gpu_type: shape.gpuType, mode: shape.mode, num_gpus: shape.gpuCount, template: this.#o.template ?? "base", public_key: publicKey };
      try {
        const { uuid } = await this.client.createInstance(body, name, signal);
        return { provider: "thunder", id: uuid, name, intentId: req.intentId, state: "pending", providerState: "CREATED", instanceType: req.offer.instanceType, region: THUNDER_REGION, pricePerHour: req.offer.pricePerHour, launchedAt: this.#now().toISOString() };
      } catch (e) {
        if (!(e instanceof LaunchOutcomeUnknownError)) throw e;
        this.client.log.warn(`thunder: the answer to creating ${name} was lost (${e.message}); looking for it in the listing`);
        return this.#resolveLost(e, { name, publicKey, shape, before: new Set(before.map((i) => i.uuid)) }, signal);
      }
    });
  }

  async describe(id: string, signal: AbortSignal): Promise<MachineRecord> {
    const found = (await this.client.listInstances(signal)).find((i) => i.uuid === id);
    return found ? this.#record(found) : gone(id);
  }

  async listMachines(signal: AbortSignal): Promise<MachineRecord[]> {
    return (await this.client.listInstances(signal)).filter((i) => this.#nameOf(i) !== undefined).map((i) => this.#record(i));
  }

  async terminate(id: string, signal: AbortSignal): Promise<void> {
    const found = (await this.client.listInstances(signal)).find((i) => i.uuid === id);
    if (!found || found.status.toUpperCase() === "DELETING") return;
    try {
      await this.client.deleteInstance(found.id, signal);
    } catch (e) {
      if (e instanceof ProviderError && e.status === 404) return;
      throw e;
    }
  }

  async #resolveLost(lost: LaunchOutcomeUnknownError, o: { name: string; publicKey: string; shape: { gpuType: string; gpuCount: number }; before: Set<string> }, signal: AbortSignal): Promise<MachineRecord> {
    const lagMs = this.#o.listingLagMs ?? 60_000;
    const start = Date.now();
    const material = keyMaterial(o.publicKey);
    let clean = 0;
    let interval = 200;
    for (;;) {
      let list: ThunderListItem[] | undefined;
      try {
        list = await this.client.listInstances(signal);
      } catch (e) {
        if (signal.aborted || (e instanceof ProviderError && (e.kind === "auth" || e.kind === "invalid"))) throw e;
        clean = 0;
      }
      if (list) {
        const marked = list.find((i) => markerOf(i.sshPublicKeys) === o.name);
        if (marked) return this.#record(marked);
        const appeared = list.filter(
          (i) =>
            !o.before.has(i.uuid) &&
            markerOf(i.sshPublicKeys) === undefined &&
            !this.#adopted.has(i.uuid) &&
            (i.sshPublicKeys ?? []).some((k) => keyMaterial(k) === material) &&
            (i.gpuType === undefined || i.gpuType.toLowerCase() === o.shape.gpuType) &&
            (i.numGpus === undefined || i.numGpus === o.shape.gpuCount),
        );
        if (appeared.length === 1) {
          this.#adopted.set(appeared[0]!.uuid, o.name);
          return this.#record(appeared[0]!);
        }
        if (appeared.length > 1) {
          throw new ProviderError("thunder", "fatal", `the answer to creating ${o.name} was lost and ${appeared.length} new instances with Kiln's key appeared (${appeared.map((i) => i.uuid).join(", ")}); Kiln cannot tell which is its own and will not launch again`, {
            code: "thunder/launch-ambiguous",
            suggestion: "delete the ones you do not want in the Thunder console (https://console.thundercompute.com), then rerun",
          });
        }
        clean++;
      }
      const elapsed = Date.now() - start;
      if (elapsed >= lagMs && clean >= 2) {
        throw new ProviderError("thunder", "transient", `the answer to creating ${o.name} was lost, and after ${Math.round(lagMs / 1000)} s of listings no such instance exists: nothing was launched`, { code: "thunder/launch-not-created", cause: lost });
      }
      if (elapsed >= 2 * lagMs) throw lost;
      await sleep(interval, signal);
      interval = Math.min(interval * 2, 5_000);
    }
  }

  #nameOf(i: ThunderListItem): string | undefined {
    return markerOf(i.sshPublicKeys) ?? this.#adopted.get(i.uuid);
  }

  #record(i: ThunderListItem): MachineRecord {
    const name = this.#nameOf(i) ?? "";
    const state = thunderState(i.status);
    const mode = i.mode === "prototyping" || i.mode === "production" ? i.mode : undefined;
    const instanceType = i.gpuType && i.numGpus !== undefined && mode ? instanceTypeOf({ gpuType: i.gpuType.toLowerCase(), gpuCount: i.numGpus, mode }) : (i.gpuType ?? "");
    const rec: MachineRecord = {
      provider: "thunder",
      id: i.uuid,
      name,
      intentId: intentIdFromName(name),
      // Running without an address is not usable yet.
      state: state === "running" && !i.ip ? "pending" : state,
      providerState: i.status,
      instanceType,
      region: THUNDER_REGION,
      pricePerHour: this.#prices.get(instanceType) ?? 0,
    };
    const created = i.createdAt === undefined ? Number.NaN : Date.parse(i.createdAt);
    if (Number.isFinite(created)) rec.launchedAt = new Date(created).toISOString();
    if (i.ip && rec.state === "running") rec.ssh = { host: i.ip, port: i.port ?? 22, user: this.#o.sshUser ?? "ubuntu" };
    return rec;
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
  }
}

function gone(id: string): MachineRecord {
  return { provider: "thunder", id, name: "", intentId: undefined, state: "terminated", providerState: "not-found", instanceType: "", region: "", pricePerHour: 0, notFound: true };
}


/**
 * The clouds a cloud job's driver talks to, one per provider, opened on first use and closed together:
 * a job that fails over from one provider to the next opens the second only when it gets there, and a
 * provider never offered is never opened (its credentials are not even read).
 */
import { KilnError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { EndBilling } from "../../providers/descriptor.js";
import type { Provider } from "../../providers/provider.js";
import { providerNamed } from "../../providers/registry.js";
import type { KilnPaths } from "../home.js";
import type { CloudFile } from "./cloud-file.js";
import { hostProvider, requireCloud } from "./providers.js";

export interface Cloud {
  provider: Provider;
  /** An emulator on loopback: its machines are this computer. */
  emulated: boolean;
  /** The watchdog's way to end billing (a cloud account with a terminate credential; none for a host). */
  endBilling?: (id: string) => EndBilling;
  consoleUrl?: string;
  /** A simulated cloud's own billing, kept in the job dir for comparison with the ledger. */
  billed?: () => unknown;
  /** How long "not listed" may still mean "launched" on this cloud (KILN_LISTING_LAG_MS overrides, for tests). */
  listingLagMs: number;
  close(): Promise<void>;
}

export class CloudPool {
  readonly #open = new Map<string, Promise<Cloud>>();

  constructor(
    private readonly c: CloudFile,
    private readonly o: { env: NodeJS.ProcessEnv; logger: Logger; paths: KilnPaths; privateKey: Buffer },
  ) {}

  /** The cloud for `name`, opened once. A failure to open is not cached: a later attempt may try again. */
  get(name: string): Promise<Cloud> {
    let p = this.#open.get(name);
    if (!p) {
      p = this.#openCloud(name);
      this.#open.set(name, p);
      p.catch(() => this.#open.delete(name));
    }
    return p;
  }

  /** How long "not listed" may still mean "launched" on `name` (KILN_LISTING_LAG_MS overrides, for tests). */
  lagOf(name: string): number {
    return Number(this.o.env["KILN_LISTING_LAG_MS"] ?? "") || providerNamed(name).listingLagMs;
  }

  async closeAll(): Promise<Record<string, unknown>> {
    const billed: Record<string, unknown> = {};
    for (const [name, p] of this.#open) {
      const cloud = await p.catch(() => undefined);
      if (!cloud) continue;
      if (cloud.billed) billed[name] = cloud.billed();
      await cloud.close();
    }
    this.#open.clear();
    return billed;
  }

  async #openCloud(name: string): Promise<Cloud> {
    const d = providerNamed(name);
    const lag = this.lagOf(name);
    if (d.kind === "host") {
      if (!this.c.ssh) throw new KilnError("cloud_file", `provider ${name} without its host in cloud.json`);
      const provider = hostProvider(name, this.c.ssh, { privateKey: this.o.privateKey, knownHostsFile: this.o.paths.knownHosts, logger: this.o.logger });
      // No API, no key on the machine: the watchdog never terminates a host the user owns.
      return { provider, emulated: false, listingLagMs: lag, close: () => provider.close() };
    }
    if (this.c.sim) {
      if (!d.simulate) throw new KilnError("no_simulation", `${d.title} has no simulated account for --sim`);
      const sim = await d.simulate({ bootDelayMs: Number(this.o.env["KILN_SIM_BOOT_MS"] ?? "") || 500, logger: this.o.logger });
      return { provider: sim.provider, emulated: true, listingLagMs: lag, ...(sim.endBilling && { endBilling: sim.endBilling }), billed: () => sim.billed(), close: () => sim.close() };
    }
    const cloud = await requireCloud(name, { env: this.o.env, credentialsPath: this.o.paths.credentials, logger: this.o.logger });
    return { provider: cloud.provider, emulated: cloud.emulated, listingLagMs: lag, ...(cloud.endBilling && { endBilling: cloud.endBilling }), ...(d.consoleUrl && { consoleUrl: d.consoleUrl }), close: async () => {} };
  }
}

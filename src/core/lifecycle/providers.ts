/**
 * The provider a command talks to, looked up in the registry: a cloud account from the user's
 * configuration (or an emulator the configuration points at), a simulated one for `--sim`, or the user's
 * own host for provider `ssh`. Nothing here names a provider: each descriptor says how it is configured.
 */
import { KilnError, UserError } from "../../base/errors.js";
import type { ConfiguredCloud, HostOptions, ProviderContext, ProviderDescriptor } from "../../providers/descriptor.js";
import type { Provider } from "../../providers/provider.js";
import { providerNamed, rentableClouds } from "../../providers/registry.js";

export type { ConfiguredCloud, SimulatedCloud } from "../../providers/descriptor.js";

/** How to configure `d`, in one line: its env vars, else its section of the credentials file. */
export function howToConfigure(d: ProviderDescriptor, credentialsPath: string): string {
  const c = d.credentials;
  if (!c) return `${d.title} needs no credentials`;
  return `set ${c.envVars.join(" / ")}, or put ${c.fileExample} in ${credentialsPath} (chmod 600)${c.createAt ? `; create one at ${c.createAt}` : ""}`;
}

/** The configured account of cloud `name`, or undefined when it is not configured. */
export async function configuredCloud(name: string, ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const d = providerNamed(name);
  return d.configured?.(ctx);
}

/** The configured account of cloud `name`, or a UserError saying how to configure it (or that Kiln cannot rent there yet). */
export async function requireCloud(name: string, ctx: ProviderContext): Promise<ConfiguredCloud> {
  const d = providerNamed(name);
  if (!d.configured) throw notRentable(d);
  const c = await d.configured(ctx);
  if (!c) throw new UserError(`no credentials for ${d.title}`, { exitCode: 2, hint: howToConfigure(d, ctx.credentialsPath) });
  return c;
}

export function notRentable(d: ProviderDescriptor): UserError {
  return new UserError(`Kiln cannot rent machines on ${d.title} yet (its prices are in the catalog only)`, {
    exitCode: 2,
    hint: `rentable now: ${rentableClouds()
      .map((x) => x.name)
      .join(", ")}, or ssh (your own machine)`,
  });
}

/** Provider `host` (the user's machine over SSH) for a job's target, with the job's key and Kiln's pins. */
export function hostProvider(name: string, t: { host: string; port: number; user: string }, o: HostOptions): Provider & { close(): Promise<void> } {
  const d = providerNamed(name);
  if (!d.host) throw new KilnError("not_a_host_provider", `provider ${name} is not a host provider`);
  return d.host(t, o);
}

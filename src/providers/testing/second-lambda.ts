/**
 * A second rentable cloud for tests of failover and recovery across providers: Lambda's client and
 * emulator under another name ("ember"), with its own account (EMBER_API_KEY, KILN_EMBER_API_URL on
 * loopback). Only tests register it: the unit tests in their process, and the cloud e2e tests in the
 * detached driver through testing/driver-with-test-clouds.ts. Every record it returns names "ember", so
 * the core cannot tell it from a real second provider.
 */
import { lambdaDescriptor } from "../lambda/descriptor.js";
import type { ConfiguredCloud, ProviderContext, ProviderDescriptor } from "../descriptor.js";
import type { MachineRecord, Offer, Provider } from "../provider.js";

const rename = <T extends { provider: string }>(x: T, name: string): T => ({ ...x, provider: name });

/** A provider that answers as `name` while another does the work. */
export function renamed(inner: Provider, name: string): Provider {
  return {
    name,
    listOffers: async (req, signal) => (await inner.listOffers(req, signal)).map((o: Offer) => rename(o, name)),
    launch: async (req, signal) => rename(await inner.launch({ ...req, offer: { ...req.offer, provider: inner.name } }, signal), name),
    describe: async (id, signal) => rename(await inner.describe(id, signal), name),
    listMachines: async (signal) => (await inner.listMachines(signal)).map((m: MachineRecord) => rename(m, name)),
    terminate: (id, signal) => inner.terminate(id, signal),
  };
}

export function secondLambdaDescriptor(name = "ember"): ProviderDescriptor {
  const upper = name.toUpperCase();
  const asLambda = (ctx: ProviderContext): ProviderContext => ({
    ...ctx,
    // Its own account only: never the real Lambda's key or URL.
    env: { ...ctx.env, LAMBDA_API_KEY: ctx.env[`${upper}_API_KEY`] ?? "", KILN_LAMBDA_API_URL: ctx.env[`KILN_${upper}_API_URL`] ?? "" },
    credentialsPath: `${ctx.credentialsPath}.${name}-unused`,
  });
  return {
    ...lambdaDescriptor,
    name,
    title: `${name} (a second Lambda account, for tests)`,
    catalog: lambdaDescriptor.catalog.map((r) => rename(r, name)),
    credentials: { envVars: [`${upper}_API_KEY`], fileSection: name, fileExample: `{"${name}": {"apiKey": "…"}}` },
    hasCredentials: (ctx) => Boolean(ctx.env[`${upper}_API_KEY`]) && Boolean(ctx.env[`KILN_${upper}_API_URL`]),
    configured: async (ctx): Promise<ConfiguredCloud | undefined> => {
      if (!ctx.env[`${upper}_API_KEY`] || !ctx.env[`KILN_${upper}_API_URL`]) return undefined;
      const c = await lambdaDescriptor.configured!(asLambda(ctx));
      return c && { ...c, provider: renamed(c.provider, name), source: `${upper}_API_KEY` };
    },
    check: async (ctx, signal) => lambdaDescriptor.check!(asLambda(ctx), signal),
    // A reclaim notice like Azure's Scheduled Events, served by the test (the machines are this computer).
    ...(process.env[`KILN_${upper}_NOTICE_URL`] && {
      reclaimNotice: { url: process.env[`KILN_${upper}_NOTICE_URL`]!, headers: ["Metadata: true"], when: { bodyMatches: '"EventType" *: *"Preempt"' }, seconds: 30 },
    }),
  };
}

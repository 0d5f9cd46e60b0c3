/**
 * The AWS account from the user's configuration, or an emulated one when `KILN_AWS_API_URL` points at
 * loopback (moto behind the shim, ./testing/front.ts: tests, `kiln run --sim`). Real: SSH to the instance's
 * public address as `ubuntu`, the caller's address from checkip.amazonaws.com. Emulated: the SSH endpoint of
 * each instance from the shim's `/__kiln/machines` (moto's addresses route nowhere), this computer's user,
 * 127.0.0.1 as the caller, and a poweroff that is the emulated machine's, never this computer's.
 */
import { userInfo } from "node:os";
import { z } from "zod";
import { readBounded } from "../../base/bounded-body.js";
import type { ConfiguredCloud, EndBilling } from "../descriptor.js";
import { ProviderError, type MachineRecord, type Provider } from "../provider.js";
import { AwsClient, type AwsClientOptions } from "./client.js";
import type { AwsCredentialSource } from "./credentials.js";
import { AwsProvider, type AwsProviderOptions } from "./provider.js";

export const CHECKIP_URL = "https://checkip.amazonaws.com";

/** The caller's public IPv4 address, from AWS's own echo service (one line, the address). */
export async function checkIp(signal: AbortSignal, fetchImpl: typeof fetch = fetch): Promise<string> {
  let text: string;
  try {
    const res = await fetchImpl(CHECKIP_URL, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
    // One line; a longer answer is not the echo service's (a captive portal's page, say).
    text = (await readBounded(res, 1024)).trim();
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    if (signal.aborted) throw e;
    throw new ProviderError("aws", "transient", `could not find this computer's public address at ${CHECKIP_URL} (for the SSH rule of Kiln's security group): ${(e as Error).message}`, { cause: e, code: "kiln/checkip" });
  }
  // One host's address, nothing wider: the rule is `${ip}/32`, so an answer that is not exactly one usable
  // IPv4 address (a CIDR, 0.0.0.0, an octet over 255, a proxy's HTML page) must never reach it.
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)?.slice(1).map(Number);
  if (!octets || octets.some((o) => o > 255) || octets[0] === 0) throw new ProviderError("aws", "transient", `${CHECKIP_URL} answered ${JSON.stringify(text.slice(0, 60))}, not an IPv4 address`, { code: "kiln/checkip" });
  return text;
}

/**
 * The emulated machine's poweroff, for the watchdog's end of billing: `KILN_SIM_MACHINE` is the loopback
 * sshd's machine directory (src/remote/ssh/loopback-sshd.ts); the shim turns `powered-off` there into what EC2
 * does on an OS shutdown. Never the host's `shutdown` (the tests run as root).
 */
export const EMULATED_POWEROFF: EndBilling = {
  script: `#!/bin/sh
# Emulated EC2 machine: record the poweroff for the shim in front of moto (InstanceInitiatedShutdownBehavior
# then terminates the instance). Refuses anywhere else rather than power off a real computer.
if [ -z "$KILN_SIM_MACHINE" ] || [ ! -d "$KILN_SIM_MACHINE" ]; then echo "not an emulated machine (no KILN_SIM_MACHINE)"; exit 1; fi
touch "$KILN_SIM_MACHINE/powered-off"
`,
  args: [],
  files: [],
};

export const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

const Machines = z.array(z.object({ instanceId: z.string(), host: z.string().optional(), port: z.number().optional() }).passthrough());

export function clientOptionsFor(creds: AwsCredentialSource, env: NodeJS.ProcessEnv): AwsClientOptions {
  const endpoint = env["KILN_AWS_API_URL"] || undefined;
  const emulated = endpoint !== undefined && isLoopback(endpoint);
  return {
    ...(creds.keys && { credentials: { accessKeyId: creds.keys.accessKeyId.reveal(), secretAccessKey: creds.keys.secretAccessKey.reveal(), ...(creds.keys.sessionToken && { sessionToken: creds.keys.sessionToken.reveal() }) } }),
    ...(creds.profile && { profile: creds.profile }),
    ...(endpoint && { endpoint }),
    ...(emulated && { maxAttempts: 3, requestTimeoutMs: Number(env["KILN_AWS_TIMEOUT_MS"] ?? "") || 10_000 }),
  };
}

/** An emulated account's provider: SSH endpoints from the shim, refreshed before each describe and listing. */
export function emulatedProvider(o: { client: AwsClient; regions: readonly string[]; shimUrl: string; providerOptions?: Partial<AwsProviderOptions> }): Provider & { inner: AwsProvider } {
  const endpoints = new Map<string, { host: string; port: number }>();
  const inner = new AwsProvider({
    client: o.client,
    regions: o.regions,
    sshUser: userInfo().username,
    callerIp: async () => "127.0.0.1",
    sshEndpoint: (id) => endpoints.get(id),
    ...o.providerOptions,
  });
  const origin = new URL(o.shimUrl).origin;
  const refresh = async (signal: AbortSignal) => {
    try {
      const res = await fetch(`${origin}/__kiln/machines`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]) });
      endpoints.clear();
      for (const m of Machines.parse(await res.json())) if (m.host !== undefined && m.port !== undefined) endpoints.set(m.instanceId, { host: m.host, port: m.port });
    } catch {
      // Only the endpoints are missing then; the instance reads as pending and the next poll tries again.
    }
  };
  return {
    name: inner.name,
    inner,
    listOffers: (req, signal) => inner.listOffers(req, signal),
    launch: (req, signal) => inner.launch(req, signal),
    terminate: (id, signal) => inner.terminate(id, signal),
    describe: async (id, signal): Promise<MachineRecord> => {
      await refresh(signal);
      return inner.describe(id, signal);
    },
    listMachines: async (signal) => {
      await refresh(signal);
      return inner.listMachines(signal);
    },
  };
}

export async function awsConfigured(creds: AwsCredentialSource, env: NodeJS.ProcessEnv): Promise<ConfiguredCloud> {
  const options = clientOptionsFor(creds, env);
  const client = new AwsClient(options);
  if (options.endpoint && isLoopback(options.endpoint)) {
    return { provider: emulatedProvider({ client, regions: creds.regions, shimUrl: options.endpoint }), source: creds.source, emulated: true, endBilling: () => EMULATED_POWEROFF };
  }
  // No endBilling: the cloud-side stop (shutdown terminates) needs no credential on the machine.
  return { provider: new AwsProvider({ client, regions: creds.regions, sshUser: "ubuntu", callerIp: (signal) => checkIp(signal) }), source: creds.source, emulated: false };
}

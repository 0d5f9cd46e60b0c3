/**
 * From "launched" to "logged in": wait (with a deadline) until the provider says running with an
 * address, then open SSH pinned to the machine's id in Kiln's known_hosts.
 */
import { pollUntil } from "../../base/deadline.js";
import { KilnError } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import { isPermanentProviderError, type MachineRecord, type Provider } from "../../providers/provider.js";
import { SshConnection } from "../../remote/ssh/connection.js";
import { KnownHosts } from "../../remote/ssh/known-hosts.js";
import { crashPoint } from "./crash.js";

type Running = MachineRecord & { ssh: NonNullable<MachineRecord["ssh"]> };

export async function waitUntilRunning(provider: Provider, id: string, o: { timeoutMs: number; signal: AbortSignal; env?: NodeJS.ProcessEnv; notFoundGraceMs?: number }): Promise<Running> {
  let polls = 0;
  const graceUntil = Date.now() + (o.notFoundGraceMs ?? 0);
  // pollUntil retries probe errors until the deadline; a machine that failed must end the wait at once.
  const r = await pollUntil<{ ok: Running } | { failed: MachineRecord }>(
    async () => {
      const m = await provider.describe(id, o.signal);
      if (++polls === 1) crashPoint("boot-wait", o.env);
      // A just-launched id the provider does not know yet is a lagging read, not a dead machine (for a while).
      if (m.notFound && Date.now() < graceUntil) return undefined;
      if (m.state === "terminated" || m.state === "terminating" || m.state === "unhealthy") return { failed: m };
      return m.state === "running" && m.ssh ? { ok: { ...m, ssh: m.ssh } } : undefined;
    },
    { what: `${provider.name} machine ${id} to be running with an address`, timeoutMs: o.timeoutMs, intervalMs: 250, backoff: 1.5, maxIntervalMs: 5_000, signal: o.signal, isPermanent: isPermanentProviderError },
  );
  if ("failed" in r) throw new KilnError("machine_failed", `${provider.name} machine ${id} is ${r.failed.providerState} while booting`);
  return r.ok;
}

/**
 * The name a machine's host key is pinned under: provider and id. Ids that carry their location
 * (`us-east-1/i-0abc`, `project/zone/name`) have characters known_hosts aliases cannot hold; each is
 * written as `_` and its hex code, so distinct ids stay distinct.
 */
export const hostKeyAliasOf = (provider: string, id: string): string => `${provider}-${id}`.replace(/[^A-Za-z0-9.:@-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`);

/** `hostKeyAlias: null` pins by `[host]:port` instead of the machine id (a host the user owns). */
export async function connectMachine(m: Running, o: { privateKey: Buffer; knownHostsFile: string; timeoutMs: number; signal: AbortSignal; logger: Logger; hostKeyAlias?: null }): Promise<SshConnection> {
  return SshConnection.open(
    { host: m.ssh.host, port: m.ssh.port, user: m.ssh.user, privateKey: o.privateKey, ...(o.hostKeyAlias === null ? {} : { hostKeyAlias: hostKeyAliasOf(m.provider, m.id) }) },
    { knownHosts: new KnownHosts(o.knownHostsFile), timeoutMs: o.timeoutMs, logger: o.logger, signal: o.signal },
  );
}

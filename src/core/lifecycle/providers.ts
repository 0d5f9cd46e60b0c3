/**
 * The cloud provider a command talks to, from the user's configuration. Lambda is the only cloud so
 * far. When `KILN_LAMBDA_API_URL` points at loopback it is an emulator (`kiln emulate lambda`, tests):
 * client pacing is off (the emulator applies its own limits) and the SSH port of each instance, which
 * Lambda's API has no field for, is read from the emulator's `/__emulator/instances`.
 */
import { userInfo } from "node:os";
import { z } from "zod";
import type { Logger } from "../../base/logger.js";
import { loadLambdaCredentials } from "../../providers/credentials.js";
import { createLambdaProvider } from "../../providers/lambda/index.js";
import type { MachineRecord, Provider } from "../../providers/provider.js";
import { SshProvider } from "../../providers/ssh/index.js";
import { KnownHosts } from "../../remote/ssh/known-hosts.js";

const EndpointList = z.array(z.object({ id: z.string(), endpoint: z.object({ port: z.number().optional() }).passthrough().optional() }).passthrough());

const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

/** Whether Lambda is an emulator on loopback, whose machines are this computer behind loopback sshd's. */
export const lambdaIsEmulated = (env: NodeJS.ProcessEnv): boolean => {
  const url = env["KILN_LAMBDA_API_URL"];
  return url !== undefined && url !== "" && isLoopback(url);
};

/** Lambda from LAMBDA_API_KEY / the credentials file, or undefined when no key is configured. */
export async function configuredLambda(o: { env: NodeJS.ProcessEnv; credentialsPath: string; logger: Logger }): Promise<Provider | undefined> {
  const creds = await loadLambdaCredentials({ env: o.env, credentialsPath: o.credentialsPath });
  if (!creds) return undefined;
  const baseUrl = o.env["KILN_LAMBDA_API_URL"] || undefined;
  if (baseUrl === undefined || !isLoopback(baseUrl)) {
    return createLambdaProvider({ apiKey: creds.apiKey.reveal(), baseUrl, log: o.logger.child("lambda") });
  }
  const ports = new Map<string, number>();
  const inner = createLambdaProvider({
    apiKey: creds.apiKey.reveal(),
    baseUrl,
    log: o.logger.child("lambda"),
    minIntervalMs: 0,
    launchIntervalMs: 0,
    backoffBaseMs: 50,
    backoffMaxMs: 1_000,
    // An emulator answers in milliseconds; tests that make it hang should not wait the real API's timeout.
    ...(Number(o.env["KILN_LAMBDA_TIMEOUT_MS"] ?? "") > 0 && { requestTimeoutMs: Number(o.env["KILN_LAMBDA_TIMEOUT_MS"]) }),
    sshUser: o.env["KILN_LAMBDA_SSH_USER"] || userInfo().username,
    sshPortOf: (id) => ports.get(id),
  });
  const origin = new URL(baseUrl).origin;
  const refresh = async (signal: AbortSignal) => {
    try {
      const res = await fetch(`${origin}/__emulator/instances`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]) });
      for (const i of EndpointList.parse(await res.json())) if (i.endpoint?.port !== undefined) ports.set(i.id, i.endpoint.port);
    } catch {
      // Only the port is missing then; describe still answers and the next poll tries again.
    }
  };
  const withPorts: Provider = {
    name: inner.name,
    listOffers: (req, signal) => inner.listOffers(req, signal),
    launch: (req, signal) => inner.launch(req, signal),
    terminate: (id, signal) => inner.terminate(id, signal),
    describe: async (id, signal): Promise<MachineRecord> => {
      await refresh(signal);
      const m = await inner.describe(id, signal);
      // The emulator may say active before its sshd listens; without the port the machine is not usable yet.
      if (m.state === "running" && !ports.has(id)) {
        const { ssh: _unknownPort, ...rest } = m;
        return { ...rest, state: "pending" };
      }
      return m;
    },
    listMachines: async (signal) => {
      await refresh(signal);
      return inner.listMachines(signal);
    },
  };
  return withPorts;
}

/**
 * Provider ssh for a job: the user's host from cloud.json's `ssh`, with the job's key; its host key
 * is pinned under `[host]:port` in Kiln's known_hosts on first use (the same pin `kiln ssh` and
 * later jobs on that host check). The GPU is not probed here: the verification checklist does it.
 */
export function sshProviderFor(t: { host: string; port: number; user: string }, o: { privateKey: Buffer; knownHostsFile: string; logger: Logger }): SshProvider {
  return new SshProvider({
    target: { host: t.host, port: t.port, user: t.user, privateKey: o.privateKey },
    connect: { knownHosts: new KnownHosts(o.knownHostsFile), timeoutMs: 60_000, logger: o.logger.child("ssh") },
    probe: async () => ({ gpu: "cpu", gpuCount: 0, vramGb: 0 }),
    pricePerHour: 0,
  });
}

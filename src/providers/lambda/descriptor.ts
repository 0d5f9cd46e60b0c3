/**
 * Lambda Cloud's descriptor: its dated catalog, credentials, the configured account (or an emulator on
 * loopback when `KILN_LAMBDA_API_URL` points there), `kiln check`, `kiln run --sim`, `kiln emulate lambda`
 * and how the on-machine watchdog ends billing (the API's terminate, with the key in a 0600 header file).
 * Everything heavier than this file (client, schemas, emulator) is imported on use.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { z } from "zod";
import { UserError, errorMessage } from "../../base/errors.js";
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ConfiguredCloud, EndBilling, ProviderContext, ProviderDescriptor, SimulatedCloud } from "../descriptor.js";
import type { MachineRecord, Provider, SupportsVolumes } from "../provider.js";
import { LAMBDA_FILE_EXAMPLE, LAMBDA_KEYS_PAGE, loadLambdaCredentials } from "./credentials.js";

const LAMBDA_API = "https://cloud.lambda.ai/api/v1";

/**
 * Lambda's `specs` (memory_gib, storage_gib) per instance type: gh200 and 8x H100 from providers.md §1.3's
 * instance-types example; the others from Lambda's public instance list, as the Lambda emulator serves
 * them. Types not listed (the 80 GB A100, the A6000) are sized with the planner's assumptions.
 */
const LAMBDA_SPECS = {
  gpu_1x_a100: { memoryGb: 200, diskGb: 512 },
  gpu_1x_gh200: { memoryGb: 432, diskGb: 4096 },
  gpu_1x_h100_pcie: { memoryGb: 200, diskGb: 1024 },
  gpu_8x_h100_sxm5: { memoryGb: 1800, diskGb: 22528 },
  gpu_1x_a10: { memoryGb: 200, diskGb: 1400 },
} as const;

const { RUNBOOK, RUNBOOK_ALT, PROVIDERS_SKY, PUBLIC } = SOURCES;
/** providers.md §1.3, Lambda's instance-types example (cents per hour). */
const PROVIDERS_LAMBDA = "providers.md Lambda example";

// The runbook's baseline. No spot market (runbook, Strategy 4).
const CATALOG: readonly CatalogRow[] = [
  catalogRow("lambda", "gpu_1x_a100", "A100-40GB", 40, 1.29, RUNBOOK, LAMBDA_SPECS.gpu_1x_a100),
  catalogRow("lambda", "gpu_1x_a100_sxm4_80gb", "A100-80GB", 80, 1.79, RUNBOOK_ALT),
  catalogRow("lambda", "gpu_1x_gh200", "GH200-96GB", 96, 1.49, PROVIDERS_LAMBDA, LAMBDA_SPECS.gpu_1x_gh200),
  catalogRow("lambda", "gpu_1x_h100_pcie", "H100-80GB", 80, 2.49, PUBLIC, LAMBDA_SPECS.gpu_1x_h100_pcie),
  catalogRow("lambda", "gpu_8x_h100_sxm5", "H100-80GB", 80, 23.92, PROVIDERS_LAMBDA, { gpuCount: 8, ...LAMBDA_SPECS.gpu_8x_h100_sxm5 }),
  catalogRow("lambda", "gpu_1x_a10", "A10-24GB", 24, 0.75, PUBLIC, LAMBDA_SPECS.gpu_1x_a10),
  catalogRow("lambda", "gpu_1x_a6000", "A6000-48GB", 48, 0.8, PROVIDERS_SKY),
];

/**
 * The watchdog's end of billing: `POST /instance-operations/terminate` with the key from a 0600 header
 * file (never on argv, where `ps` would show it). Lambda keys cannot be scoped: the machine then holds a
 * key that can launch, which is why this is opt-in (`--watchdog-terminate`).
 */
const END_BILLING_SCRIPT = `#!/bin/sh
# $1: API base URL, $2: instance id. The key is in auth-header beside this script.
code=$(curl -sS -m 20 -o /dev/null -w '%{http_code}' -X POST -H @"$(dirname "$0")/auth-header" -H 'Content-Type: application/json' \\
  --data "{\\"instance_ids\\":[\\"$2\\"]}" "$1/instance-operations/terminate")
case "$code" in 2*) exit 0 ;; esac
echo "terminate answered $code"
exit 1
`;

export const lambdaEndBilling = (apiUrl: string, apiKey: string) => (id: string): EndBilling => ({
  script: END_BILLING_SCRIPT,
  args: [apiUrl, id],
  files: [{ name: "auth-header", content: `Authorization: Bearer ${apiKey}\n` }],
});

const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

const EndpointList = z.array(z.object({ id: z.string(), endpoint: z.object({ port: z.number().optional() }).passthrough().optional() }).passthrough());

/**
 * The account from LAMBDA_API_KEY / the credentials file. When `KILN_LAMBDA_API_URL` points at loopback it
 * is an emulator (`kiln emulate lambda`, tests): client pacing is off (the emulator applies its own limits)
 * and the SSH port of each instance, which Lambda's API has no field for, is read from the emulator's
 * `/__emulator/instances`.
 */
async function configured(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const creds = await loadLambdaCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { createLambdaProvider } = await import("./index.js");
  const baseUrl = ctx.env["KILN_LAMBDA_API_URL"] || undefined;
  const key = creds.apiKey.reveal();
  if (baseUrl === undefined || !isLoopback(baseUrl)) {
    const provider = createLambdaProvider({ apiKey: key, baseUrl, log: ctx.logger.child("lambda") });
    return { provider, source: creds.source, emulated: false, endBilling: lambdaEndBilling(baseUrl ?? LAMBDA_API, key) };
  }
  const ports = new Map<string, number>();
  const inner = createLambdaProvider({
    apiKey: key,
    baseUrl,
    log: ctx.logger.child("lambda"),
    minIntervalMs: 0,
    launchIntervalMs: 0,
    backoffBaseMs: 50,
    backoffMaxMs: 1_000,
    // An emulator answers in milliseconds; tests that make it hang should not wait the real API's timeout.
    ...(Number(ctx.env["KILN_LAMBDA_TIMEOUT_MS"] ?? "") > 0 && { requestTimeoutMs: Number(ctx.env["KILN_LAMBDA_TIMEOUT_MS"]) }),
    sshUser: ctx.env["KILN_LAMBDA_SSH_USER"] || userInfo().username,
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
  const withPorts: Provider & SupportsVolumes = {
    name: inner.name,
    // File systems (lambda-fs stores) go straight through: they have no ports to learn.
    listVolumes: (signal) => inner.listVolumes(signal),
    createVolume: (name, region, signal) => inner.createVolume(name, region, signal),
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
  return { provider: withPorts, source: creds.source, emulated: true, endBilling: lambdaEndBilling(baseUrl, key) };
}

async function check(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const creds = await loadLambdaCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { checkLambdaKey } = await import("./check.js");
  const { ProviderError } = await import("../provider.js");
  try {
    const r = await checkLambdaKey({ apiKey: creds.apiKey.reveal(), baseUrl: ctx.env["KILN_LAMBDA_API_URL"] || undefined, log: ctx.logger.child("lambda") }, signal);
    const cheapest = r.cheapestAvailable ? `; cheapest available: ${r.cheapestAvailable.instanceType} in ${r.cheapestAvailable.region} at $${r.cheapestAvailable.pricePerHour.toFixed(2)}/h` : "";
    return `key from ${creds.source} works (${r.instanceTypes} instance types, ${r.withCapacity} with capacity now${cheapest})`;
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") {
      throw new UserError(`Lambda rejected the API key from ${creds.source} (${e.code ?? `HTTP ${e.status ?? "?"}`})`, {
        cause: e,
        hint: `create a key at ${LAMBDA_KEYS_PAGE}, then set LAMBDA_API_KEY or "lambda.api_key" in ${ctx.credentialsPath} (mode 0600)`,
      });
    }
    throw new UserError(`could not check Lambda: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  }
}

async function simulate(o: { bootDelayMs: number }): Promise<SimulatedCloud> {
  const { startSimulatedLambdaCloud } = await import("./simulated.js");
  return startSimulatedLambdaCloud(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }) {
  const { readEmulatorConfig } = await import("./emulator-config-file.js");
  const config = o.configPath ? await readEmulatorConfig(o.configPath) : {};
  const { LAMBDA_RATE_LIMIT, startLambdaEmulator } = await import("./emulator.js");
  const emu = await startLambdaEmulator({ rateLimit: { ...LAMBDA_RATE_LIMIT }, ...config, host: o.host, port: o.port }).catch((e: unknown) => {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: emu.url,
    env: { KILN_LAMBDA_API_URL: emu.url, LAMBDA_API_KEY: emu.apiKey },
    close: async () => {
      await emu.close();
      return { launched: emu.inspect().length, live: emu.inspect().filter((i) => i.status !== "terminated").length };
    },
  };
}

export const lambdaDescriptor: ProviderDescriptor = {
  name: "lambda",
  noSpot: "Lambda sells no spot machines (runbook, Strategy 4: none as of October 2025): on-demand only",
  title: "Lambda",
  kind: "cloud",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://cloud.lambda.ai/instances",
  // Lambda's listing is not documented as eventually consistent; a minute covers a slow control plane.
  listingLagMs: 60_000,
  boot: { minutes: 10, source: "runbook.md: Lambda instances boot in 5-10 min (up to 15 at peak); the top of the usual range" },
  // No cloud-side stop; the API terminate needs the account's key, which cannot be scoped (it can launch too).
  // File systems survive termination, but Kiln does not attach one yet.
  cap: { apiTerminate: "full-account", persistentVolume: "Lambda file systems", volumeStore: "lambda-fs" },
  credentials: { envVars: ["LAMBDA_API_KEY"], fileSection: "lambda", fileExample: LAMBDA_FILE_EXAMPLE, createAt: LAMBDA_KEYS_PAGE },
  hasCredentials: (ctx) => Boolean(ctx.env["LAMBDA_API_KEY"]?.trim()) || existsSync(ctx.credentialsPath),
  configured,
  check,
  simulate,
  emulate,
};

/**
 * RunPod's descriptor: its dated catalog, credentials, the configured account (or an emulator on loopback
 * when `KILN_RUNPOD_API_URL` points there), `kiln check`, `kiln run --sim`, `kiln emulate runpod` and how the
 * on-machine watchdog ends billing (the API's DELETE, with the key in a 0600 header file). Everything heavier
 * than this file (client, schemas, emulator) is imported on use.
 */
import { existsSync } from "node:fs";
import { UserError, errorMessage } from "../../base/errors.js";
import { type CatalogRow, catalogRow, SOURCES } from "../catalog-row.js";
import type { ConfiguredCloud, ProviderContext, ProviderDescriptor, RunningEmulator, SimulatedCloud } from "../descriptor.js";

import { CONTAINER_DISK_GB, CONTAINER_DISK_SIZING } from "./disk.js";
import { loadRunpodCredentials, RUNPOD_FILE_EXAMPLE as FILE_EXAMPLE, RUNPOD_KEYS_PAGE as KEYS_PAGE } from "./credentials.js";

const RUNPOD_API = "https://api.runpod.io";

const { RUNBOOK, PUBLIC } = SOURCES;
/** providers.md §2, RunPod's v2 catalog example (per GPU per hour). */
const PROVIDERS_RUNPOD = "providers.md RunPod example";

// RunPod prices are per GPU per hour (providers.md); a 1-GPU pod costs exactly that. Instance types are
// RunPod's GPU type ids (references/gpu-types.mdx), secure cloud.
// Every pod gets Kiln's container disk, sizable at launch (./disk.ts).
const disk = { diskGb: CONTAINER_DISK_GB, diskSizing: CONTAINER_DISK_SIZING };
const CATALOG: readonly CatalogRow[] = [
  catalogRow("runpod", "NVIDIA A100 80GB PCIe", "A100-80GB", 80, 1.74, RUNBOOK, disk),
  // Correction to the runbook: its RunPod "A100 40GB" ($1.39/h, spot $0.69/h) does not exist. RunPod's GPU type
  // list (references/gpu-types.mdx, generated 2026-02-12) has no 40 GB A100, so that row could never be launched
  // and is left out; RunPod's A100s are the 80 GB PCIe and SXM cards.
  catalogRow("runpod", "NVIDIA GeForce RTX 4090", "RTX4090-24GB", 24, 0.44, PROVIDERS_RUNPOD, disk),
  catalogRow("runpod", "NVIDIA H100 80GB HBM3", "H100-80GB", 80, 2.69, PUBLIC, disk),
  catalogRow("runpod", "NVIDIA H200", "H200-141GB", 141, 3.59, PUBLIC, disk),
  catalogRow("runpod", "NVIDIA L40S", "L40S-48GB", 48, 0.86, PUBLIC, disk),
];

const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

/**
 * The account from RUNPOD_API_KEY / the credentials file. When `KILN_RUNPOD_API_URL` points at loopback it is
 * an emulator (`kiln emulate runpod`, tests): client pacing is off (the emulator applies its own limits) and
 * retries are quick. The emulator's `ssh.direct` names the loopback sshd's port and user, so nothing else
 * differs from the real API.
 */
async function configured(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const creds = await loadRunpodCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { createRunpodProvider } = await import("./index.js");
  const { runpodEndBilling } = await import("./end-billing.js");
  const baseUrl = ctx.env["KILN_RUNPOD_API_URL"] || undefined;
  const key = creds.apiKey.reveal();
  const log = ctx.logger.child("runpod");
  if (baseUrl === undefined || !isLoopback(baseUrl)) {
    return { provider: createRunpodProvider({ apiKey: key, baseUrl, log }), source: creds.source, emulated: false, endBilling: runpodEndBilling(baseUrl ?? RUNPOD_API, key) };
  }
  const timeout = Number(ctx.env["KILN_RUNPOD_TIMEOUT_MS"] ?? "");
  const provider = createRunpodProvider({ apiKey: key, baseUrl, log, minIntervalMs: 0, backoffBaseMs: 100, backoffMaxMs: 1_000, ...(timeout > 0 && { requestTimeoutMs: timeout }) });
  return { provider, source: creds.source, emulated: true, endBilling: runpodEndBilling(baseUrl, key) };
}

async function check(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const creds = await loadRunpodCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const { checkRunpodKey } = await import("./check.js");
  const { ProviderError } = await import("../provider.js");
  try {
    const r = await checkRunpodKey({ apiKey: creds.apiKey.reveal(), baseUrl: ctx.env["KILN_RUNPOD_API_URL"] || undefined, log: ctx.logger.child("runpod") }, signal);
    return `key from ${creds.source} works: the account has ${r.pods} pod${r.pods === 1 ? "" : "s"} (${r.kilnPods} of them Kiln's)`;
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") {
      throw new UserError(`RunPod rejected the API key from ${creds.source} (${e.status === 403 ? "it lacks access to pods" : `HTTP ${e.status ?? "?"}`})`, {
        cause: e,
        hint: `create a key with read/write access at ${KEYS_PAGE}, then set RUNPOD_API_KEY or "runpod.api_key" in ${ctx.credentialsPath} (mode 0600)`,
      });
    }
    throw new UserError(`could not check RunPod: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  }
}

async function simulate(o: { bootDelayMs: number; logger: import("../../base/logger.js").Logger }): Promise<SimulatedCloud> {
  const { startSimulatedRunpodCloud } = await import("./simulated.js");
  return startSimulatedRunpodCloud(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator> {
  const { readRunpodEmulatorConfig } = await import("./emulator-config.js");
  const { sshd = true, ...config } = o.configPath ? await readRunpodEmulatorConfig(o.configPath) : {};
  const { startRunpodEmulator } = await import("./emulator.js");
  const { SshdMachines } = await import("../emulator-kit/sshd-machines.js");
  const emu = await startRunpodEmulator({ ...config, ...(sshd && { machines: new SshdMachines() }), host: o.host, port: o.port }).catch((e: unknown) => {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: emu.url,
    env: { KILN_RUNPOD_API_URL: emu.url, RUNPOD_API_KEY: emu.apiKey },
    close: async () => {
      const pods = emu.inspect();
      await emu.close();
      return { launched: pods.length, live: pods.filter((p) => p.status !== "TERMINATED").length };
    },
  };
}

export const runpodDescriptor: ProviderDescriptor = {
  name: "runpod",
  title: "RunPod",
  kind: "cloud",
  tier: "reliable",
  catalog: CATALOG,
  consoleUrl: "https://www.runpod.io/console/pods",
  // RunPod documents no listing lag (a deleted pod "no longer appears in listPods"); a minute covers a slow control plane.
  listingLagMs: 60_000,
  // No cloud-side stop (no deadline field in REST v2). The watchdog's DELETE needs a key that can also launch:
  // RunPod's restricted keys scope Serverless endpoints per endpoint, while pod access is all, read/write or
  // read-only (docs.runpod.io/get-started/api-keys), so no key can be limited to "terminate only".
  // Network volumes outlive pods (one data centre each), but Kiln does not attach one yet.
  // No reclaimNotice: RunPod gives none; a spot reclaim is seen by polling (provider.ts).
  cap: { apiTerminate: "full-account", persistentVolume: "RunPod network volumes" },
  credentials: { envVars: ["RUNPOD_API_KEY"], fileSection: "runpod", fileExample: FILE_EXAMPLE, createAt: KEYS_PAGE },
  hasCredentials: (ctx) => Boolean(ctx.env["RUNPOD_API_KEY"]?.trim()) || existsSync(ctx.credentialsPath),
  configured,
  check,
  simulate,
  emulate,
};

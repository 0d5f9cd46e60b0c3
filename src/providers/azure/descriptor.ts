/**
 * Azure VMs' descriptor: the dated catalog (./catalog.ts), credentials help, the configured subscription
 * (or an emulator on loopback when KILN_AZURE_API_URL points there), `kiln check`, `kiln run --sim`,
 * `kiln emulate azure`, and the Spot reclaim notice. Everything heavier than this file (the SDKs,
 * @azure/identity, the emulator) is imported on use.
 */
import { UserError, errorMessage } from "../../base/errors.js";
import type { ConfiguredCloud, ProviderContext, ProviderDescriptor, RunningEmulator, SimulatedCloud } from "../descriptor.js";
import { AZURE_CATALOG } from "./catalog.js";
import { AZURE_CREDENTIALS_PAGE, AZURE_ENV_VARS, AZURE_FILE_EXAMPLE, azureHasCredentials } from "./settings.js";

/** The watcher's grep -E pattern for a Preempt event in a Scheduled Events document (./emulator/scheduled-events.ts). */
export const AZURE_PREEMPT_PATTERN = '"EventType"[[:space:]]*:[[:space:]]*"Preempt"';

async function configured(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const { configuredAzure } = await import("./configured.js");
  return configuredAzure(ctx);
}

async function check(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const { configuredAzure } = await import("./configured.js");
  const { ProviderError } = await import("../provider.js");
  const { checkAzure, describeCheck } = await import("./check.js");
  try {
    const account = await configuredAzure(ctx);
    if (!account) return undefined;
    return describeCheck(await checkAzure(account.client, signal), account.source);
  } catch (e) {
    if (!(e instanceof ProviderError)) throw e;
    if (e.kind === "auth") throw new UserError(`Azure refused the credentials: ${e.message}`, { cause: e, hint: e.suggestion ?? `run \`az login\`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET; see ${AZURE_CREDENTIALS_PAGE}` });
    throw new UserError(`could not check Azure: ${e.message}`, { cause: e, hint: e.suggestion ?? "check your network connection and try again" });
  }
}

async function simulate(o: { bootDelayMs: number }): Promise<SimulatedCloud> {
  const { startSimulatedAzureCloud } = await import("./simulated.js");
  return startSimulatedAzureCloud(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator> {
  if (o.configPath) throw new UserError("kiln emulate azure takes no --config yet", { exitCode: 2, hint: "faults are injected from tests (startAzureEmulator({ faults }))" });
  const { startAzureEmulator } = await import("./emulator.js");
  const { SshdMachines } = await import("../emulator-kit/sshd-machines.js");
  const emu = await startAzureEmulator({ host: o.host, port: o.port, machines: new SshdMachines() }).catch((e: unknown) => {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: emu.url,
    env: { KILN_AZURE_API_URL: emu.url, KILN_AZURE_TOKEN: emu.token, AZURE_SUBSCRIPTION_ID: emu.subscriptionId },
    close: async () => {
      const launched = emu.billed().length;
      const live = emu.live().length;
      await emu.close();
      return { launched, live };
    },
  };
}

export const azureDescriptor: ProviderDescriptor = {
  name: "azure",
  title: "Azure VMs",
  kind: "cloud",
  tier: "reliable",
  catalog: AZURE_CATALOG,
  consoleUrl: "https://portal.azure.com/#browse/resourcegroups",
  // GET by name is consistent once the create operation settled, which launch waits for; the resource
  // group listing that reconciliation reads may trail it briefly [A].
  // SkyPilot's published launch time for one Azure node (as quoted in Kiln's Azure issue): ARM deployments of
  // the VM, its NIC, IP and disk are slower than EC2's single call.
  boot: { minutes: 6, source: "SkyPilot's published Azure figure: ~6 min for one node" },
  listingLagMs: 30_000,
  credentials: { envVars: AZURE_ENV_VARS, fileSection: "azure", fileExample: AZURE_FILE_EXAMPLE, createAt: AZURE_CREDENTIALS_PAGE },
  // Scheduled Events lists every planned event (reboots, redeploys too): only EventType Preempt is a reclaim, ≥ 30 s
  // ahead. IMDS answers compact JSON (`"EventType":"Preempt"`); the pattern also takes Microsoft's spaced samples.
  // A standalone VM (one per group here) is only sent its own events, so Resources need not be checked.
  reclaimNotice: { url: "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01", headers: ["Metadata: true"], when: { bodyMatches: AZURE_PREEMPT_PATTERN }, seconds: 30 },
  // No cloud-side stop in the VM API, and Kiln puts no credential on the machine (a managed identity
  // limited to deleting the job's group would be the narrowest; not built yet): the watchdog cannot end
  // billing with no client. Managed data disks (deleteOption Detach) outlive a VM; Kiln attaches none.
  // The VM deletes itself through its own managed identity, allowed nothing else (./self-stop.ts).
  cap: { apiTerminate: "machine-identity", persistentVolume: "managed data disks (deleteOption: Detach)" },
  hasCredentials: (ctx) => azureHasCredentials(ctx.env, ctx.credentialsPath),
  configured,
  check,
  simulate,
  emulate,
};

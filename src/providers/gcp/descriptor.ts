/**
 * Google Compute Engine's descriptor: its dated catalog (A2/A3/G2 GPU machine types, on-demand and Spot;
 * live prices come from the Cloud Billing Catalog API once configured),
 * ADC credentials, the configured project (or an emulator on loopback when KILN_GCP_API_URL points there),
 * `kiln check`, `kiln run --sim`, `kiln emulate gcp`, the Spot reclaim notice, and the cloud-side cap:
 * `scheduling.maxRunDuration` + DELETE, set at launch, so no credential ever goes to the machine.
 * Everything heavier than this file (the SDK, google-auth-library, the emulator) is imported on use.
 */
import { UserError, errorMessage } from "../../base/errors.js";
import type { Logger } from "../../base/logger.js";
import type { ConfiguredCloud, ProviderContext, ProviderDescriptor, RunningEmulator, SimulatedCloud } from "../descriptor.js";
import { GCP_CATALOG } from "./machine-types.js";
import { GCP_CREDENTIALS_PAGE, GCP_ENV_VARS, GCP_FILE_EXAMPLE, gcpHasCredentials } from "./settings.js";

async function configured(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const { configuredGcp } = await import("./configured.js");
  return configuredGcp(ctx);
}

async function check(ctx: ProviderContext, signal: AbortSignal): Promise<string | undefined> {
  const { checkGcp } = await import("./check.js");
  return checkGcp(ctx, signal);
}

async function simulate(o: { bootDelayMs: number; logger: Logger }): Promise<SimulatedCloud> {
  const { startSimulatedGcpCloud } = await import("./simulated.js");
  return startSimulatedGcpCloud(o);
}

async function emulate(o: { host: string; port: number; configPath?: string }): Promise<RunningEmulator> {
  if (o.configPath) throw new UserError("kiln emulate gcp takes no --config yet", { exitCode: 2, hint: "faults are injected from tests (startGcpEmulator({ faults }))" });
  const { startGcpEmulator } = await import("./emulator.js");
  const { SshdMachines } = await import("../emulator-kit/sshd-machines.js");
  const machines = new SshdMachines();
  const emu = await startGcpEmulator({ host: o.host, port: o.port, machines }).catch((e: unknown) => {
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${errorMessage(e)}`, { cause: e, hint: "pick another --port" });
  });
  return {
    url: emu.url,
    env: { KILN_GCP_API_URL: emu.url, KILN_GCP_TOKEN: emu.token, GOOGLE_CLOUD_PROJECT: emu.project },
    close: async () => {
      const launched = emu.billed().length;
      const live = emu.live().length;
      await emu.close();
      await machines.closeAll();
      return { launched, live };
    },
  };
}

export const gcpDescriptor: ProviderDescriptor = {
  name: "gcp",
  title: "Google Compute Engine",
  kind: "cloud",
  tier: "reliable",
  catalog: GCP_CATALOG,
  consoleUrl: "https://console.cloud.google.com/compute/instances",
  // instances.get is consistent once the insert's operation is DONE, which launch waits for [A]; the
  // aggregated listing may trail it briefly.
  listingLagMs: 30_000,
  credentials: { envVars: GCP_ENV_VARS, fileSection: "gcp", fileExample: GCP_FILE_EXAMPLE, createAt: GCP_CREDENTIALS_PAGE },
  // Quirk: the metadata server answers FALSE until preemption starts, then TRUE; ~30 s before the stop.
  reclaimNotice: { url: "http://metadata.google.internal/computeMetadata/v1/instance/preempted", headers: ["Metadata-Flavor: Google"], when: { bodyMatches: "^TRUE" }, seconds: 30 },
  // maxRunDuration + DELETE at launch (LaunchRequest.maxRunSeconds): Google deletes the VM at the cap with
  // no Kiln process alive and no credential on the machine. Persistent disks could outlive it; Kiln's boot
  // disk is autoDelete and Kiln attaches none yet.
  cap: { cloudSideStop: "deadline-at-launch", persistentVolume: "persistent disks (autoDelete: false)" },
  hasCredentials: (ctx) => gcpHasCredentials(ctx.env, ctx.credentialsPath),
  configured,
  check,
  simulate,
  emulate,
};

/** What the AWS tests share: moto + the shim started once per file, providers on them, and a test key. */
import { afterAll } from "vitest";
import { AwsClient } from "../client.js";
import { emulatedProvider } from "../configured.js";
import type { AwsProviderOptions } from "../provider.js";
import { type Ec2Front, type Ec2FrontOptions, startEc2Front } from "./front.js";
import { type MotoEc2, startMotoEc2 } from "./moto.js";

/** A real ed25519 public key (no private half anywhere): EC2 and moto check the format. */
export const TEST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln";
export const TEST_KEY_NAME = "kiln-0123456789ab";

let shared: Promise<MotoEc2 | { skip: string }> | undefined;

/** moto for this test file (closed after it); `{ skip }` only where the venv or moto is missing. */
export function motoForFile(): Promise<MotoEc2 | { skip: string }> {
  if (!shared) {
    shared = startMotoEc2();
    afterAll(async () => {
      const m = await shared;
      shared = undefined;
      if (m && !("skip" in m)) await m.close();
    });
  }
  return shared;
}

export async function requireMoto(): Promise<MotoEc2> {
  const m = await motoForFile();
  if ("skip" in m) throw new Error(m.skip);
  return m;
}

/** A shim on the file's moto and an emulated provider with the admin key (or `key`), fast retries. */
export async function frontAndProvider(o: Partial<Ec2FrontOptions> & { key?: { id: string; secret: string }; providerOptions?: Partial<AwsProviderOptions> } = {}) {
  const moto = await requireMoto();
  const front: Ec2Front = await startEc2Front({ moto, ...o });
  const clientFor = (key: { id: string; secret: string }) => new AwsClient({ endpoint: front.url, credentials: { accessKeyId: key.id, secretAccessKey: key.secret }, maxAttempts: 3, requestTimeoutMs: 5_000 });
  const client = clientFor(o.key ?? moto.admin);
  const provider = emulatedProvider({ client, regions: [moto.region], shimUrl: front.url, ...(o.providerOptions && { providerOptions: o.providerOptions }) });
  return {
    moto,
    front,
    client,
    provider,
    clientFor,
    close: async () => {
      client.destroy();
      await front.close();
    },
  };
}

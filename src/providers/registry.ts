/**
 * The provider registry: every provider Kiln knows, one line each, in its default preference order. The
 * core and the CLI iterate over this list and look providers up here; nothing else names a provider
 * (test/provider-registry.test.ts checks it). Adding a cloud is its folder (`src/providers/<name>/`, with a
 * `descriptor.ts`) plus one line below.
 */
import type { ProviderDescriptor } from "./descriptor.js";
import { awsDescriptor } from "./aws/descriptor.js";
import { azureDescriptor } from "./azure/descriptor.js";
import { gcpDescriptor } from "./gcp/descriptor.js";
import { kubernetesDescriptor } from "./kubernetes/descriptor.js";
import { lambdaDescriptor } from "./lambda/descriptor.js";
import { localDescriptor } from "./local/descriptor.js";
import { northflankDescriptor } from "./northflank/descriptor.js";
import { runpodDescriptor } from "./runpod/descriptor.js";
import { sshDescriptor } from "./ssh/descriptor.js";
import { tensordockDescriptor } from "./tensordock/descriptor.js";
import { thunderDescriptor } from "./thunder/descriptor.js";

const registered: ProviderDescriptor[] = [
  localDescriptor,
  sshDescriptor,
  lambdaDescriptor,
  runpodDescriptor,
  tensordockDescriptor,
  thunderDescriptor,
  northflankDescriptor,
  awsDescriptor,
  gcpDescriptor,
  azureDescriptor,
  kubernetesDescriptor,
];

/** Registered providers, in preference order; tests may register more (see {@link registerProvider}). */
export const providers = (): readonly ProviderDescriptor[] => registered;

export const providerNames = (): string[] => registered.map((d) => d.name);

export const isProviderName = (name: string): boolean => registered.some((d) => d.name === name);

/** The descriptor of `name`; throws for a name nothing registered (callers validate user input first). */
export function providerNamed(name: string): ProviderDescriptor {
  const d = registered.find((x) => x.name === name);
  if (!d) throw new Error(`no provider named ${JSON.stringify(name)} is registered`);
  return d;
}

/** Providers Kiln can rent from now: clouds with a way to configure an account. */
export const rentableClouds = (): readonly ProviderDescriptor[] => registered.filter((d) => d.kind === "cloud" && d.configured !== undefined);

/**
 * Register a provider that only exists in tests (a spot provider for chaos tests, a provider proving that
 * a folder plus one line is enough). Its name must not be taken. Returns a function that removes it.
 */
export function registerProvider(d: ProviderDescriptor): () => void {
  if (registered.some((x) => x.name === d.name)) throw new Error(`provider ${d.name} is already registered`);
  registered.push(d);
  return () => {
    const i = registered.indexOf(d);
    if (i >= 0) registered.splice(i, 1);
  };
}

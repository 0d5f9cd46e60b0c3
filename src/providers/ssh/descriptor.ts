/**
 * Provider `ssh`: a GPU machine the user already has, reached over SSH with Kiln's key (or theirs) and a
 * pinned host key. Kiln never creates or destroys it: "launch" registers a marker there and "terminate"
 * removes it. Nothing is rented, so there is no catalog and no credential beyond the key.
 */
import { KnownHosts } from "../../remote/ssh/known-hosts.js";
import type { ProviderDescriptor } from "../descriptor.js";
import { SshProvider } from "./provider.js";

export const sshDescriptor: ProviderDescriptor = {
  name: "ssh",
  title: "your own machine over SSH",
  kind: "host",
  tier: "reliable",
  catalog: [],
  // The marker is written by the same SSH command that reports success: there is no listing to lag.
  listingLagMs: 0,
  host: (t, o) =>
    new SshProvider({
      target: { host: t.host, port: t.port, user: t.user, privateKey: o.privateKey },
      connect: { knownHosts: new KnownHosts(o.knownHostsFile), timeoutMs: o.connectTimeoutMs ?? 60_000, logger: o.logger.child("ssh") },
      // The GPU is not probed here: the verification checklist does it once connected.
      probe: async () => ({ gpu: "cpu", gpuCount: 0, vramGb: 0 }),
      pricePerHour: 0,
    }),
};

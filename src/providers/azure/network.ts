/**
 * The job's network, all inside its resource group so deleting the group removes it: a VNet with one
 * subnet, an NSG that lets SSH in from the caller's address only, a static Standard public IP, and the
 * NIC that ties them to the VM. Every PUT is idempotent (same name, same body), so a retried launch
 * re-sends them safely. Names are fixed per group.
 */
import type { AzureClient } from "./client.js";
import { NicOut, PublicIpOut, parseAzure } from "./schema.js";

export const NET_NAMES = { vnet: "kiln-vnet", subnet: "default", nsg: "kiln-nsg", ip: "kiln-ip", nic: "kiln-nic" } as const;

export interface NetworkRequest {
  group: string;
  location: string;
  tags: Record<string, string>;
  /** Where SSH may come from, e.g. "203.0.113.7/32". */
  sshSourceCidr: string;
}

/** Create (or re-assert) the job's network; returns the NIC's ARM id. */
export async function ensureNetwork(client: AzureClient, n: NetworkRequest, signal: AbortSignal): Promise<string> {
  const sub = client.subscriptionId;
  const base = `/subscriptions/${sub}/resourceGroups/${n.group}/providers/Microsoft.Network`;
  const lro = { updateIntervalInMs: client.pollIntervalMs };
  await client.call("create the network security group", signal, (s, abortSignal) =>
    s.network.networkSecurityGroups.beginCreateOrUpdateAndWait(n.group, NET_NAMES.nsg, {
      location: n.location,
      tags: n.tags,
      securityRules: [{ name: "ssh-from-kiln", protocol: "Tcp", access: "Allow", direction: "Inbound", priority: 100, sourceAddressPrefix: n.sshSourceCidr, sourcePortRange: "*", destinationAddressPrefix: "*", destinationPortRange: "22" }],
    }, { ...lro, abortSignal }),
  );
  await client.call("create the virtual network", signal, (s, abortSignal) =>
    s.network.virtualNetworks.beginCreateOrUpdateAndWait(n.group, NET_NAMES.vnet, {
      location: n.location,
      tags: n.tags,
      addressSpace: { addressPrefixes: ["10.0.0.0/16"] },
      subnets: [{ name: NET_NAMES.subnet, addressPrefix: "10.0.0.0/24" }],
    }, { ...lro, abortSignal }),
  );
  await client.call("create the public IP", signal, (s, abortSignal) =>
    s.network.publicIPAddresses.beginCreateOrUpdateAndWait(n.group, NET_NAMES.ip, { location: n.location, tags: n.tags, sku: { name: "Standard" }, publicIPAllocationMethod: "Static" }, { ...lro, abortSignal }),
  );
  const nic = await client.call("create the network interface", signal, (s, abortSignal) =>
    s.network.networkInterfaces.beginCreateOrUpdateAndWait(n.group, NET_NAMES.nic, {
      location: n.location,
      tags: n.tags,
      networkSecurityGroup: { id: `${base}/networkSecurityGroups/${NET_NAMES.nsg}` },
      ipConfigurations: [{ name: "ipconfig1", subnet: { id: `${base}/virtualNetworks/${NET_NAMES.vnet}/subnets/${NET_NAMES.subnet}` }, publicIPAddress: { id: `${base}/publicIPAddresses/${NET_NAMES.ip}` }, privateIPAllocationMethod: "Dynamic" }],
    }, { ...lro, abortSignal }),
  );
  return parseAzure(NicOut, nic, "create the network interface").id;
}

/** The VM's public address (the VM resource does not carry it: it is Microsoft.Network's). */
export async function publicAddress(client: AzureClient, group: string, signal: AbortSignal): Promise<string | undefined> {
  const ip = await client.call("read the public IP", signal, (s, abortSignal) => s.network.publicIPAddresses.get(group, NET_NAMES.ip, { abortSignal }));
  return parseAzure(PublicIpOut, ip, "read the public IP").ipAddress;
}

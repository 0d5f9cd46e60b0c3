/**
 * How the emulator answers, in TensorDock's dialect as far as it is documented: instances as the
 * instance-management page shows them (the list JSON:API-style, one instance flat), locations as the
 * fetch-hostnodes page shows them, errors as the third-party document's JSON:API `errors[]` (GUESS(tensordock):
 * TensorDock documents no error body).
 */
import type { EmuReply } from "../../emulator-kit/http.js";
import type { TensordockAccount, EmuInstance } from "./account.js";
import { RESOURCE_PRICES } from "./catalog.js";

const TITLES: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable" };

export function apiError(status: number, detail: string, headers?: Record<string, string>): EmuReply {
  return { status, body: { errors: [{ status: String(status), title: TITLES[status] ?? "Error", detail }] }, ...(headers && { headers }) };
}

export const HTML_ERROR: EmuReply = {
  status: 502,
  contentType: "text/html",
  text: "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>",
};

/** One instance, flat, as `GET /instances/{id}` shows it on the instance-management page. */
export function renderInstance(i: EmuInstance) {
  return {
    type: "virtualmachine",
    id: i.id,
    name: i.name,
    status: i.status,
    ipAddress: i.endpoint?.host ?? "",
    // The VM's SSH port is forwarded from the host's: here, the loopback sshd's port.
    portForwards: i.endpoint ? [{ internal_port: 22, external_port: i.endpoint.port }] : [],
    rateHourly: i.rateHourly,
    location_id: i.location.id,
  };
}

export function renderList(instances: readonly EmuInstance[]) {
  return { data: { instances: instances.map((i) => ({ type: "virtualmachine", id: i.id, attributes: { name: i.name, status: i.status } })) } };
}

export function renderLocations(account: TensordockAccount) {
  return {
    data: {
      locations: account.locations.map((l) => ({
        id: l.id,
        city: l.city,
        stateprovince: l.stateprovince,
        country: l.country,
        tier: l.tier,
        gpus: l.gpus.map((g) => ({
          v0Name: g.v0Name,
          displayName: g.displayName,
          max_count: Math.max(0, g.free),
          price_per_hr: g.pricePerGpuHr,
          resources: { max_vcpus: g.maxVcpus, max_ram_gb: g.maxRamGb, max_storage_gb: g.maxStorageGb },
          pricing: { ...RESOURCE_PRICES },
          network_features: { dedicated_ip_available: false, port_forwarding_available: true, network_storage_available: false },
        })),
      })),
    },
  };
}

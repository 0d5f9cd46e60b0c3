// The validator must catch drift, or "every response validated" proves nothing.
import { describe, expect, it } from "vitest";
import { lambdaSpec } from "./openapi.js";

const instance = {
  id: "0920582c7ff041399e34823a0be62549",
  status: "booting",
  ssh_key_names: ["k"],
  file_system_names: [],
  region: { name: "us-west-1", description: "California, USA" },
  instance_type: { name: "gpu_1x_a10", description: "1x A10", gpu_description: "A10 (24 GB PCIe)", price_cents_per_hour: 75, specs: { vcpus: 30, memory_gib: 200, storage_gib: 1400, gpus: 1 } },
  actions: { migrate: { available: false }, rebuild: { available: false }, restart: { available: false }, cold_reboot: { available: false }, terminate: { available: true } },
};

describe("Lambda OpenAPI validator", () => {
  const spec = lambdaSpec();
  it("prefers literal path segments and knows the file-system path quirk", () => {
    expect(spec.match("GET", "/api/v1/firewall-rulesets/global")?.id).toBe("getGlobalFirewallRuleset");
    expect(spec.match("GET", "/api/v1/firewall-rulesets/abc")?.id).toBe("getFirewallRuleset");
    expect(spec.match("GET", "/api/v1/file-systems")?.id).toBe("listFilesystems");
    expect(spec.match("POST", "/api/v1/file-systems")).toBeUndefined();
    expect(spec.match("POST", "/api/v1/filesystems")?.id).toBe("createFilesystem");
  });
  it("accepts a spec-shaped instance and rejects drift", () => {
    expect(spec.validateResponse("GET", "/api/v1/instances/x", 200, { data: instance })).toEqual([]);
    expect(spec.validateResponse("GET", "/api/v1/instances/x", 200, { data: { ...instance, ip: null } })[0]).toMatch(/\/data\/ip must be string/);
    expect(spec.validateResponse("GET", "/api/v1/instances/x", 200, { data: { ...instance, status: "running" } })).not.toEqual([]);
    expect(spec.validateResponse("GET", "/api/v1/instances/x", 200, { data: instance, extra: 1 })).not.toEqual([]);
    expect(spec.validateResponse("GET", "/api/v1/instances/x", 418, { error: { code: "x", message: "y" } })).toEqual(["getInstance: status 418 is not documented by the spec"]);
    expect(spec.validateResponse("GET", "/api/v1/instances/x", 503, { error: { code: "provider/internal-unavailable", message: "m" } })).toEqual([]);
  });
  it("checks request bodies and auth", () => {
    const h = new Headers({ authorization: "Bearer k" });
    expect(spec.validateRequest("POST", "/api/v1/instance-operations/launch", h, { region_name: "us-west-1", instance_type_name: "t", ssh_key_names: ["k"] })).toEqual([]);
    expect(spec.validateRequest("POST", "/api/v1/instance-operations/launch", h, { region_name: "mars-1", instance_type_name: "t", ssh_key_names: ["k"] })).not.toEqual([]);
    expect(spec.validateRequest("GET", "/api/v1/instances", new Headers(), undefined)).toEqual(["listInstances: request lacks the credential header"]);
  });
});

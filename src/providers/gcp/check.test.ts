// `kiln check` for GCE against the emulator's Cloud Resource Manager `testIamPermissions`: every permission
// granted, the ones missing named per action (launch, describe, terminate, tagging), and a Resource Manager
// that does not answer leaving them untested (said so), never failing the check.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { gcpDescriptor } from "./descriptor.js";
import { type GcpEmulator, startGcpEmulator } from "./emulator.js";
import { PERMISSIONS_BY_ACTION, REQUIRED_PERMISSIONS } from "./permissions.js";

let emu: GcpEmulator;
let dir: string;
beforeAll(async () => {
  emu = await startGcpEmulator({ bootDelayMs: 20 });
  dir = mkdtempSync(join(tmpdir(), "kiln-gcp-check-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

const check = () => gcpDescriptor.check!({ env: { HOME: dir, KILN_GCP_API_URL: emu.url, KILN_GCP_TOKEN: emu.token, GOOGLE_CLOUD_PROJECT: emu.project }, credentialsPath: join(dir, "none.json"), logger: nullLogger }, AbortSignal.timeout(120_000));
const who = () => `project ${emu.project} as the emulator's static token (credentials: KILN_GCP_API_URL (emulator)): 0 Kiln machine(s) now`;

describe("kiln check (gcp): permissions per action", () => {
  it("every permission granted: says so, naming the actions checked", async () => {
    emu.setPermissions("all");
    expect(await check()).toBe(`${who()}; all permissions Kiln needs are granted (launch, describe, terminate, tagging)`);
    // Loading the Compute SDK on first use takes seconds on a loaded machine.
  }, 180_000);

  it("a read-only principal: launch, terminate and tagging name exactly what is missing; describe is not mentioned", async () => {
    emu.setPermissions(["compute.instances.get", "compute.instances.list", "compute.zoneOperations.get", "compute.zoneOperations.list"]);
    expect(await check()).toBe(
      `${who()}; missing permissions on the project (a role on a narrower scope is not seen here) — ` +
        "launch: compute.instances.create, compute.disks.create, compute.subnetworks.use, compute.subnetworks.useExternalIp, compute.instances.setMetadata; " +
        "terminate: compute.instances.delete; tagging: compute.instances.setLabels",
    );
  }, 60_000);

  it("each action alone: only its own permissions are named", async () => {
    for (const [action, perms] of Object.entries(PERMISSIONS_BY_ACTION)) {
      emu.setPermissions(REQUIRED_PERMISSIONS.filter((p) => !perms.includes(p)));
      const line = (await check())!;
      expect(line).toContain(`— ${action}: ${perms.join(", ")}`);
      expect(line.slice(line.indexOf("—"))).not.toContain(";");
    }
    emu.setPermissions([]);
    expect(await check()).toMatch(/— launch: .*; describe: compute\.instances\.get, compute\.instances\.list, compute\.zoneOperations\.list; terminate: compute\.instances\.delete; tagging: compute\.instances\.setLabels$/);
    emu.setPermissions("all");
  }, 60_000);

  it("Resource Manager failing: the check still passes and says the permissions were not tested, and why", async () => {
    emu.inject({ kind: "error-5xx", match: { path: `/v1/projects/${emu.project}:testIamPermissions` }, times: 1 });
    expect(await check()).toBe(`${who()}; permissions not tested: Cloud Resource Manager's testIamPermissions answered HTTP 503; is cloudresourcemanager.googleapis.com enabled?`);
  }, 60_000);
});

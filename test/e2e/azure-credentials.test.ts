// Wrong Azure credentials reach the user as a clear error with the next step, never a stack trace:
// `kiln check` and `kiln run --provider azure` against the Azure emulator with a token it rejects.
// Nothing is launched.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { cloudTestEnv, removeTestHomes } from "../../src/core/lifecycle/testing/cloud.js";
import { SshdMachines } from "../../src/providers/emulator-kit/sshd-machines.js";
import { type AzureEmulator, startAzureEmulator } from "../../src/providers/azure/emulator.js";

let dir: string;
let emu: AzureEmulator;
let base: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-azure-creds-"));
  emu = await startAzureEmulator({ machines: new SshdMachines() });
  base = await cloudTestEnv({ KILN_AZURE_API_URL: emu.url, KILN_AZURE_TOKEN: "not-the-token", AZURE_SUBSCRIPTION_ID: emu.subscriptionId });
  writeFileSync(join(dir, "job.yaml"), "name: creds\nresources: { min_vram_gb: 24 }\nbudget: { max_usd: 5, max_hours: 1, on_cap_offline: keep-data }\nworkload:\n  type: command\n  run: [\"true\"]\n");
});
afterAll(async () => {
  await emu.close();
  removeTestHomes(dir);
});

async function kiln(argv: string[]) {
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...base, KILN_HOME: join(dir, "home") };
  const code = await main(argv, io, { env, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

describe("wrong Azure credentials", () => {
  it("kiln check says Azure refused them and what to do, without a stack", async () => {
    const r = await kiln(["check"]);
    const all = `${r.out}\n${r.err}`;
    expect(all).toMatch(/Azure refused the credentials: .*InvalidAuthenticationToken/);
    expect(all).toMatch(/az login/);
    expect(all).not.toMatch(/^\s+at /m);
  });

  it("kiln run --provider azure fails with the provider's advice, launches nothing, and shows no stack", async () => {
    const r = await kiln(["run", "job.yaml", "--provider", "azure"]);
    expect(r.code).not.toBe(0);
    const all = `${r.out}\n${r.err}`;
    // The first offer's launch is refused as auth, and the whole provider is ruled out for the job.
    expect(all).toMatch(/auth\s+Azure read the resource group: InvalidAuthenticationToken: The access token is invalid\./);
    expect(all).toMatch(/azure is ruled out for this job/);
    expect(all).not.toMatch(/^\s+at /m);
    expect(all).not.toMatch(/a bug in Kiln/);
    expect(emu.live()).toEqual([]);
  });
});

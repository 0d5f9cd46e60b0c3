// `kiln plan` with a Lambda file system as the store, against the Lambda emulator: the file system is looked
// up through the API, Lambda's offers keep to its region, the Cap line says what holds, and nothing is created.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { fakeNvidiaSmiEnv } from "../../core/gpu/testing/fake-nvidia-smi.js";
import { captureIo } from "../io.js";
import { main } from "../main.js";

let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function plan(store: string) {
  emu ??= await startLambdaEmulator({ rateLimit: false });
  const dir = mkdtempSync(join(tmpdir(), "kiln-plan-fs-"));
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  writeFileSync(
    join(dir, "job.yaml"),
    `name: fs\nresources: {providers: [lambda]}\nbudget: {max_usd: 20}\nartifacts: {store: ${store}}\nworkload:\n  type: sae-pii\n  sae: {base_model: minilm, layer: 3, dataset: {path: data.jsonl}, tokens: 40960}\n`,
  );
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: join(dir, "home"), ...fakeNvidiaSmiEnv("none"), LAMBDA_API_KEY: emu.apiKey, KILN_LAMBDA_API_URL: emu.url };
  const code = await main(["plan", "job.yaml"], io, { env, cwd: dir });
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe("kiln plan with artifacts.store: lambda-fs://", () => {
  it("keeps Lambda's offers to the file system's region and says what holds at the cap", async () => {
    emu = await startLambdaEmulator({ rateLimit: false });
    emu.account.createFileSystem("kiln-outputs", "us-west-1");
    const r = await plan("{url: lambda-fs://kiln-outputs/runs}");
    expect(r.stdout).toMatch(/^Note: Lambda offers limited to us-west-1, where the file system kiln-outputs is/m);
    const regions = [...r.stdout.matchAll(/capacity in (us-[a-z]+-\d)/g)].map((m) => m[1]);
    expect(regions.length).toBeGreaterThan(0);
    expect(new Set(regions)).toEqual(new Set(["us-west-1"]));
    expect(r.stdout).toMatch(/push the outputs to lambda-fs:\/\/kiln-outputs\/runs \(sha256-verified\) on the file system attached at launch/);
  });

  it("says a missing file system does not exist, how to create it, and creates nothing", async () => {
    const r = await plan("{url: lambda-fs://kiln-outputs/runs}");
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/artifacts\.store\.url: the Lambda file system "kiln-outputs" does not exist/);
    expect(r.stderr).toMatch(/bills monthly for its storage/);
    expect(emu!.account.fileSystems).toEqual([]);
  });
});

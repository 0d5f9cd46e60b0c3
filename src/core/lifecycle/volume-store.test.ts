// A Lambda file system as the job's store, against the Lambda emulator: looked up before anything is priced,
// offers kept to its region, never created unasked; and the launch attaches it, so the machine sees it at
// /lambda/nfs/NAME (the emulator's directory for it), which outlives the machine.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { type LambdaEmulator, startLambdaEmulator } from "../../providers/lambda/emulator.js";
import { LambdaProvider } from "../../providers/lambda/provider.js";
import { checkedLambdaClient } from "../../providers/lambda/testing/openapi.js";
import { TEST_PUBLIC_KEY } from "../../providers/lambda/testing/fixtures.js";
import { parseJobSpec } from "../spec/load.js";
import { checkVolumeStore, persistentVolumeFor } from "./volume-store.js";

const signal = new AbortController().signal;
let emu: LambdaEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function lambda() {
  emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 0 });
  const { client } = checkedLambdaClient(emu);
  return { emu, provider: new LambdaProvider({ client, sshKeyName: "kiln" }) };
}

const spec = (store: string, regions = "") =>
  parseJobSpec(`name: demo\nresources: {providers: [lambda]${regions}}\nbudget: {max_usd: 20, max_hours: 1}\nworkload: {type: command, run: ["true"]}\nartifacts: {store: ${store}}\n`, "job.yaml");

describe("checkVolumeStore", () => {
  it("keeps Lambda's offers to the file system's region", async () => {
    const { emu, provider } = await lambda();
    emu.account.createFileSystem("kiln-outputs", "us-west-1");
    const v = await checkVolumeStore({ spec: spec("{url: lambda-fs://kiln-outputs/runs}"), providers: ["lambda"], volumes: provider, mode: "run", signal });
    expect(v).toMatchObject({ name: "kiln-outputs", region: "us-west-1", note: "Lambda offers limited to us-west-1, where the file system kiln-outputs is (a file system attaches only to machines in its region)" });
    expect(v!.spec.resources.regions).toEqual(["us-west-1"]);
  });

  it("says a missing file system does not exist and the next step, and creates nothing unasked", async () => {
    const { emu, provider } = await lambda();
    const err = await checkVolumeStore({ spec: spec("{url: lambda-fs://kiln-outputs/runs}"), providers: ["lambda"], volumes: provider, mode: "run", signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe('artifacts.store.url: the Lambda file system "kiln-outputs" does not exist');
    expect((err as UserError).hint).toMatch(/set artifacts\.store\.create: true .* bills monthly for its storage until you delete it, so Kiln never creates one unasked$/);
    expect(emu.account.fileSystems).toEqual([]);
  });

  it("with create: true, plan only says what run will do; run creates it in artifacts.store.region", async () => {
    const { emu, provider } = await lambda();
    const s = spec("{url: lambda-fs://kiln-outputs/runs, create: true, region: us-east-1}");
    const planned = await checkVolumeStore({ spec: s, providers: ["lambda"], volumes: provider, mode: "plan", signal });
    expect(planned!.note).toMatch(/does not exist: `kiln run` will create it in us-east-1 \(create: true; it bills monthly/);
    expect(emu.account.fileSystems).toEqual([]);
    const run = await checkVolumeStore({ spec: s, providers: ["lambda"], volumes: provider, mode: "run", signal });
    expect(run!.spec.resources.regions).toEqual(["us-east-1"]);
    expect(emu.account.fileSystems.map((f) => [f.name, f.region])).toEqual([["kiln-outputs", "us-east-1"]]);
  });

  it("refuses another cloud, and regions that leave the file system's out, naming the field", async () => {
    const { emu, provider } = await lambda();
    emu.account.createFileSystem("kiln-outputs", "us-west-1");
    await expect(checkVolumeStore({ spec: spec("{url: lambda-fs://kiln-outputs/runs}"), providers: ["lambda", "runpod"], volumes: provider, mode: "run", signal })).rejects.toThrow(
      /^artifacts\.store\.url: lambda-fs:\/\/kiln-outputs\/runs is a Lambda file system, which only Lambda machines can attach; RunPod cannot write to it$/,
    );
    await expect(checkVolumeStore({ spec: spec("{url: lambda-fs://kiln-outputs/runs}", ", regions: [us-east-1]"), providers: ["lambda"], volumes: provider, mode: "run", signal })).rejects.toThrow(
      /^resources\.regions: us-east-1 leaves out us-west-1, the region of the Lambda file system kiln-outputs/,
    );
  });

  it("does nothing for an object store", async () => {
    expect(await checkVolumeStore({ spec: spec("{url: s3://bkt/runs}"), providers: ["lambda", "runpod"], volumes: undefined, mode: "run", signal })).toBeUndefined();
    expect(persistentVolumeFor(spec("{url: s3://bkt/runs}"))).toEqual({});
  });
});

describe("launching with the file system attached", () => {
  it("sends file_system_names; the machine sees the file system at /lambda/nfs/NAME, and its contents outlive the machine", async () => {
    const { emu, provider } = await lambda();
    emu.account.createFileSystem("kiln-outputs", "us-west-1");
    const [offer] = await provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never", regions: ["us-west-1"] }, signal);
    const m = await provider.launch({ intentId: "i-vol", offer: offer!, sshPublicKey: TEST_PUBLIC_KEY, ...persistentVolumeFor(spec("{url: lambda-fs://kiln-outputs/runs}")) }, signal);
    expect(emu.account.instances.get(m.id)!.fileSystemNames).toEqual(["kiln-outputs"]);
    const mounts = emu.mountsOf(m.id);
    expect(Object.keys(mounts)).toEqual(["/lambda/nfs/kiln-outputs"]);
    const dir = mounts["/lambda/nfs/kiln-outputs"]!;
    mkdirSync(join(dir, "runs"), { recursive: true });
    writeFileSync(join(dir, "runs", "note.txt"), "kept\n");
    await provider.terminate(m.id, signal);
    expect(emu.inspect().map((i) => i.status)).toEqual(["terminated"]);
    expect(readFileSync(join(emu.fileSystemDir("kiln-outputs")!, "runs", "note.txt"), "utf8")).toBe("kept\n");
    // A machine launched without it does not see it.
    const other = await provider.launch({ intentId: "i-bare", offer: offer!, sshPublicKey: TEST_PUBLIC_KEY }, signal);
    expect(emu.mountsOf(other.id)).toEqual({});
  });

  it("Lambda refuses a file system of another region; the provider passes the refusal on", async () => {
    const { emu, provider } = await lambda();
    emu.account.createFileSystem("kiln-outputs", "us-west-1");
    const offer = (await provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never", regions: ["us-east-1"] }, signal)).find((o) => o.region === "us-east-1")!;
    await expect(provider.launch({ intentId: "i-far", offer, sshPublicKey: TEST_PUBLIC_KEY, persistentVolume: { name: "kiln-outputs" } }, signal)).rejects.toThrow();
    expect(emu.inspect()).toEqual([]);
  });
});

// Checks before the meter starts (issue 15, items 6 and 8; docs/lifecycle.md §10), end to end against the
// Lambda emulator: a dataset that is missing or does not parse, and a secret in what would be shipped,
// stop `kiln run --provider lambda` in the foreground with the field or file and the fix — no instance is
// ever launched — and `kiln plan` prints the same checks. A `type: command` job ships its working
// directory (secret-scanned) and runs in the shipped copy on the machine, not in a path of this computer.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type CloudHarness, cloudTestEnv, removeTestHomes, startCloudHarness } from "../../src/core/lifecycle/testing/cloud.js";
import { sshdAvailable } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const FAKE = join(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
// An AWS access key id of the real shape (not the documentation's EXAMPLE one, which scanners let through).
const AWS_KEY = `${"AKIA"}J7Q2XK9RT4WZ6MPL`;
let dir: string;
let base: NodeJS.ProcessEnv;
let cloud: CloudHarness | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-prelaunch-"));
  base = await cloudTestEnv();
});
afterEach(async () => {
  await cloud?.close();
  cloud = undefined;
});
afterAll(() => {
  removeTestHomes(dir);
});

/** A project folder of its own (the spec's directory), with `files` in it. */
function project(name: string, files: Record<string, string | Buffer>): string {
  const p = join(dir, name);
  mkdirSync(p, { recursive: true });
  for (const [f, content] of Object.entries(files)) writeFileSync(join(p, f), content);
  return p;
}

const saeSpec = (name: string, dataset: string) =>
  `name: ${name}\nbudget: { max_usd: 5, on_cap_offline: keep-data }\nresources: { providers: [lambda] }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: ${dataset}, tokens: 40960 }\n`;

async function kiln(home: string, cwd: string, argv: string[]) {
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...base, KILN_HOME: home, ...cloud?.env };
  const code = await main(argv, io, { env, cwd });
  return { code, out: io.stdout, err: io.stderr };
}

function ledgerOf(home: string) {
  if (!existsSync(join(home, "ledger.db"))) return { jobs: [], machines: [] };
  const l = Ledger.open(join(home, "ledger.db"));
  try {
    return { jobs: l.listJobs(), machines: l.listMachines() };
  } finally {
    l.close();
  }
}

/** `kiln run --provider lambda` refused in the foreground: exit 2, the message, nothing launched, no job left. */
async function refusedBeforeLaunch(name: string, files: Record<string, string | Buffer>, spec: string, message: RegExp, exitCode = 2) {
  cloud = await startCloudHarness();
  const p = project(name, { ...files, "job.yaml": spec });
  const home = join(dir, `k-${name}`);
  const r = await kiln(home, p, ["run", "job.yaml", "--provider", "lambda"]);
  expect(r.err).not.toMatch(/internal error|bug in Kiln/);
  expect(r.err).toMatch(message);
  expect(r.code).toBe(exitCode);
  expect(cloud.emu.inspect()).toEqual([]);
  expect(cloud.emu.requests.filter((q) => q.path === "/instance-operations/launch")).toEqual([]);
  expect(ledgerOf(home).jobs).toEqual([]);
  expect(ledgerOf(home).machines).toEqual([]);
  // `kiln plan` runs the same checks and prints them.
  const plan = await kiln(home, p, ["plan", "job.yaml"]);
  expect(plan.out).toMatch(/^Checks before launch:$/m);
  expect(plan.out).toMatch(/^ {2}FAIL /m);
  expect(plan.code).toBe(exitCode);
  expect(cloud.emu.inspect()).toEqual([]);
  return { run: r, plan };
}

describe("checks before the meter starts (kiln run --provider lambda, kiln plan)", () => {
  it("a dataset path that does not exist: the field, the path and the fix; no machine rented", async () => {
    const { run, plan } = await refusedBeforeLaunch("missing", {}, saeSpec("missing", "{ path: data/train.jsonl }"), /^error: workload\.sae\.dataset\.path: .*data\/train\.jsonl does not exist$/m);
    expect(run.err).toMatch(/→ fix the path \(a relative one resolves against the spec's folder/);
    expect(plan.out).toMatch(/^ {2}FAIL inputs {6}workload\.sae\.dataset\.path: .*does not exist$/m);
  }, 60_000);

  it("JSONL records without the text field the spec names: the line and the fields that are there", async () => {
    const data = '{"body": "hello"}\n{"body": "world"}\n';
    const { run } = await refusedBeforeLaunch("field", { "data.jsonl": data }, saeSpec("field", "{ path: data.jsonl }"), /^error: workload\.sae\.dataset\.text_field: .*data\.jsonl:1 has no string field "text" \(fields: body\)$/m);
    expect(run.err).toMatch(/→ set dataset\.text_field to the field that holds the text \(one of: body\)/);
  }, 60_000);

  it("a JSONL line that is not JSON, and a text file that is not UTF-8", async () => {
    await refusedBeforeLaunch("notjson", { "data.jsonl": '{"text": "ok"}\n{"text": oops}\n' }, saeSpec("notjson", "{ path: data.jsonl }"), /^error: workload\.sae\.dataset\.path: .*data\.jsonl:2 is not valid JSON/m);
    await cloud?.close();
    cloud = undefined;
    await refusedBeforeLaunch("latin1", { "data.txt": Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]) }, saeSpec("latin1", "{ path: data.txt }"), /^error: workload\.sae\.dataset\.path: .*data\.txt is not UTF-8 text$/m);
  }, 60_000);

  it("an AWS key in the data that would be shipped: refused before launch, not once a machine bills", async () => {
    const data = `{"text": "hi"}\n{"text": "aws_access_key_id = ${AWS_KEY}"}\n`;
    const { plan } = await refusedBeforeLaunch("secret", { "data.jsonl": data }, saeSpec("secret", "{ path: data.jsonl }"), /^error: refusing to upload: 1 possible secret/m, 1);
    expect(plan.out).toMatch(/^ {2}FAIL bundle {6}refusing to upload/m);
  }, 60_000);

  it("a command job with a secret in its working directory: refused before launch", async () => {
    const spec = "name: cmdsecret\nbudget: { max_usd: 5, max_hours: 1, on_cap_offline: keep-data }\nresources: { providers: [lambda], min_vram_gb: 16 }\nworkload:\n  type: command\n  run: [\"cat input.txt\"]\n";
    const { run } = await refusedBeforeLaunch("cmdsecret", { "input.txt": "hello\n", "settings.env": `AWS_ACCESS_KEY_ID=${AWS_KEY}\n` }, spec, /^error: refusing to upload: 1 possible secret/m, 1);
    expect(run.err).toMatch(/work\/settings\.env/);
  }, 60_000);

  it("a job whose estimate exceeds its cap is refused by the same checks, nothing launched", async () => {
    cloud = await startCloudHarness();
    const p = project("over", { "data.jsonl": '{"text": "hi"}\n', "job.yaml": saeSpec("over", "{ path: data.jsonl }").replace("max_usd: 5", "max_usd: 0.01") });
    const r = await kiln(join(dir, "k-over"), p, ["run", "job.yaml", "--provider", "lambda"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/over budget\.max_usd \$0\.01/);
    expect(cloud.emu.inspect()).toEqual([]);
  }, 60_000);
});

describe.skipIf(!sshdAvailable)("type: command jobs ship their working directory (emulator + loopback sshd)", () => {
  it("the script reads a file from its directory on the machine, in the shipped copy; .kilnignore'd files stay home", async () => {
    cloud = await startCloudHarness();
    const spec =
      "name: cmdship\nbudget: { max_usd: 5, max_hours: 1, on_cap_offline: keep-data }\nresources: { providers: [lambda], min_vram_gb: 16 }\nworkload:\n  type: command\n" +
      '  run: ["cat input.txt > \\"$KILN_OUTPUT_DIR/copy.txt\\" && pwd > \\"$KILN_OUTPUT_DIR/pwd.txt\\" && ls -A > \\"$KILN_OUTPUT_DIR/ls.txt\\""]\n';
    const p = project("cmdship", { "input.txt": "from the project folder\n", "big.bin": "not for the machine\n", ".kilnignore": "*.bin\n", "job.yaml": spec });
    // Kiln's home inside the project (as with a project-local KILN_HOME): never shipped.
    const home = join(p, ".kiln-home");
    const r = await kiln(home, p, ["run", "job.yaml", "--provider", "lambda"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(cloud.live()).toEqual([]);
    const [job] = ledgerOf(home).jobs;
    expect(job!.state).toBe("succeeded");
    const outputs = join(home, "jobs", job!.id, "outputs");
    expect(readFileSync(join(outputs, "copy.txt"), "utf8")).toBe("from the project folder\n");
    // It ran in the shipped copy under the machine's job dir, not in this computer's project folder.
    const pwd = readFileSync(join(outputs, "pwd.txt"), "utf8").trim();
    expect(pwd).toMatch(new RegExp(`/kiln/jobs/${job!.id}/work$`));
    expect(pwd).not.toBe(p);
    const shipped = readFileSync(join(outputs, "ls.txt"), "utf8").split("\n").filter(Boolean);
    expect(shipped).toEqual(expect.arrayContaining(["input.txt", "job.yaml"]));
    expect(shipped).not.toContain("big.bin");
    expect(shipped).not.toContain(".kiln-home");
  }, 90_000);
});

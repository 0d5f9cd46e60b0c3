// Every ProviderError reaches the user as a user error with the provider's advice (issue 15, item 9a):
// an unsafe credentials file (mode 0644) given to `kiln gc` and `kiln run --provider lambda` is the
// user's to fix, never "internal error … a bug in Kiln". Nothing is launched.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { type LambdaEmulator, startLambdaEmulator } from "../../src/providers/lambda/emulator.js";

let dir: string;
let emu: LambdaEmulator;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kiln-provider-errors-"));
  emu = await startLambdaEmulator({ bootDelayMs: 0, rateLimit: false });
  writeFileSync(join(dir, "data.jsonl"), '{"text": "hi"}\n');
  writeFileSync(join(dir, "job.yaml"), "name: perms\nbudget: { max_usd: 5, on_cap_offline: keep-data }\nworkload:\n  type: command\n  run: [\"true\"]\n");
});
afterAll(async () => {
  await emu.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A KILN_HOME whose credentials file holds a valid key but is readable by everyone. */
function homeWithOpenCredentials(name: string): string {
  const home = join(dir, name);
  mkdirSync(home, { recursive: true });
  const creds = join(home, "credentials.json");
  writeFileSync(creds, JSON.stringify({ lambda: { api_key: emu.apiKey } }));
  chmodSync(creds, 0o644);
  return home;
}

async function kiln(home: string, argv: string[]) {
  const io = captureIo();
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: home, KILN_LAMBDA_API_URL: emu.url };
  delete env["LAMBDA_API_KEY"];
  const code = await main(argv, io, { env, cwd: dir });
  return { code, out: io.stdout, err: io.stderr };
}

describe("provider errors are the user's to fix, with the provider's advice", () => {
  it("kiln gc with a 0644 credentials file: a user error naming the file, the mode and the fix", async () => {
    const r = await kiln(homeWithOpenCredentials("gc"), ["gc"]);
    expect(r.err).not.toMatch(/internal error|bug in Kiln/);
    expect(r.err).toMatch(/^error: lambda: refusing to read .*credentials\.json: it is readable by other users \(mode 0644\)/m);
    expect(r.err).toMatch(/^ {2}→ .*chmod 600/m);
    expect(r.code).toBe(2);
  });

  it("kiln run --provider lambda with a 0644 credentials file: the same, and nothing launched", async () => {
    const r = await kiln(homeWithOpenCredentials("run"), ["run", "job.yaml", "--provider", "lambda"]);
    expect(r.err).not.toMatch(/internal error|bug in Kiln/);
    expect(r.err).toMatch(/^error: lambda: refusing to read .*credentials\.json: it is readable by other users \(mode 0644\)/m);
    expect(r.err).toMatch(/^ {2}→ .*chmod 600/m);
    expect(r.code).toBe(2);
    expect(emu.inspect()).toEqual([]);
  });
});

// Credentials: env first, then the 0600 file; secrets never print.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Secret } from "./credentials.js";
import { loadLambdaCredentials } from "./lambda/credentials.js";

function credsFile(content: string, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-creds-"));
  const path = join(dir, "credentials.json");
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

describe("Lambda credentials", () => {
  it("prefers LAMBDA_API_KEY, then the file, else not configured", async () => {
    const path = credsFile(JSON.stringify({ lambda: { api_key: "secret_from_file_123" } }), 0o600);
    const env = await loadLambdaCredentials({ env: { LAMBDA_API_KEY: "secret_from_env_123" }, credentialsPath: path });
    expect(env?.source).toBe("LAMBDA_API_KEY");
    expect(env?.apiKey.reveal()).toBe("secret_from_env_123");
    const file = await loadLambdaCredentials({ env: { LAMBDA_API_KEY: "" }, credentialsPath: path });
    expect(file).toMatchObject({ provider: "lambda", source: path });
    expect(file?.apiKey.reveal()).toBe("secret_from_file_123");
    expect(await loadLambdaCredentials({ env: {}, credentialsPath: join(tmpdir(), "kiln-no-such-file.json") })).toBeUndefined();
  });

  it("refuses a credentials file others can read, saying how to fix it", async () => {
    const path = credsFile(JSON.stringify({ lambda: { api_key: "secret_x_12345" } }), 0o644);
    await expect(loadLambdaCredentials({ env: {}, credentialsPath: path })).rejects.toMatchObject({
      kind: "auth",
      code: "kiln/credentials-permissions",
      suggestion: `run: chmod 600 ${path}`,
    });
  });

  it("reports a malformed file by field, keeping other providers' sections", async () => {
    const bad = credsFile(JSON.stringify({ lambda: { apikey: "x" } }), 0o600);
    await expect(loadLambdaCredentials({ env: {}, credentialsPath: bad })).rejects.toThrow(/credentials.json: lambda.api_key: /);
    const other = credsFile(JSON.stringify({ runpod: { api_key: "y" } }), 0o600);
    expect(await loadLambdaCredentials({ env: {}, credentialsPath: other })).toBeUndefined();
    const notJson = credsFile("{", 0o600);
    await expect(loadLambdaCredentials({ env: {}, credentialsPath: notJson })).rejects.toThrow(/not valid JSON/);
  });

  it("never prints the secret", () => {
    const s = new Secret("secret_never_print_me");
    expect(`${s}`).toBe("*****");
    expect(JSON.stringify({ s })).toBe('{"s":"*****"}');
    expect(inspect({ s })).not.toContain("never_print");
  });
});

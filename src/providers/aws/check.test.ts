// `kiln check` for AWS, in-process through the CLI against moto (IAM authentication on): it names the
// identity (STS) and the permissions missing for launch, describe, terminate and tagging (DryRun), and
// wrong credentials give a clear error with the next step, never a stack trace.
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo } from "../../cli/io.js";
import { main } from "../../cli/main.js";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { loadAwsCredentials } from "./credentials.js";
import { frontAndProvider } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: mkdtempSync(join(tmpdir(), "kiln-aws-check-")), KILN_LOG: "silent", HOME: mkdtempSync(join(tmpdir(), "kiln-aws-home-")), ...extra };
  for (const k of ["LAMBDA_API_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN", "KILN_AWS_REGIONS"]) if (!(k in extra)) delete e[k];
  return e;
}
const awsLine = (out: string) => out.split("\n").find((l) => l.startsWith("aws ")) ?? `(no aws line in ${JSON.stringify(out)})`;

describe("aws credentials", () => {
  it("reads env keys first, then Kiln's 0600 file (keys or a profile), then ~/.aws; regions from KILN_AWS_REGIONS or the file", async () => {
    const e = env({ AWS_ACCESS_KEY_ID: "AKIAEXAMPLEEXAMPLE01", AWS_SECRET_ACCESS_KEY: "s", AWS_REGION: "eu-west-1" });
    const path = join(e["KILN_HOME"]!, "credentials.json");
    expect(await loadAwsCredentials({ env: e, credentialsPath: path })).toMatchObject({ source: "AWS_ACCESS_KEY_ID", regions: ["eu-west-1"] });
    const noEnv = env();
    delete noEnv["AWS_ACCESS_KEY_ID"];
    delete noEnv["AWS_SECRET_ACCESS_KEY"];
    delete noEnv["AWS_REGION"];
    delete noEnv["AWS_DEFAULT_REGION"];
    const p2 = join(noEnv["KILN_HOME"]!, "credentials.json");
    expect(await loadAwsCredentials({ env: noEnv, credentialsPath: p2 })).toBeUndefined();
    writeFileSync(p2, JSON.stringify({ aws: { profile: "kiln", regions: ["us-east-1", "us-west-2"] } }), { mode: 0o600 });
    expect(await loadAwsCredentials({ env: noEnv, credentialsPath: p2 })).toMatchObject({ profile: "kiln", regions: ["us-east-1", "us-west-2"], source: "AWS profile kiln" });
    writeFileSync(p2, JSON.stringify({ aws: { access_key_id: "AKIAEXAMPLEEXAMPLE01" } }), { mode: 0o600 });
    await expect(loadAwsCredentials({ env: noEnv, credentialsPath: p2 })).rejects.toThrow(/aws: access_key_id and secret_access_key go together/);
    chmodSync(p2, 0o644);
    await expect(loadAwsCredentials({ env: noEnv, credentialsPath: p2 })).rejects.toThrow(/readable by other users/);
    const withShared = env({ AWS_SHARED_CREDENTIALS_FILE: join(noEnv["HOME"]!, "creds") });
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) delete withShared[k];
    writeFileSync(join(noEnv["HOME"]!, "creds"), "[default]\n");
    expect(await loadAwsCredentials({ env: withShared, credentialsPath: join(withShared["KILN_HOME"]!, "none.json") })).toMatchObject({ source: "the default AWS profile (~/.aws)" });
  });
});

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("kiln check aws (moto, IAM on)", () => {
  it("names the identity and finds every permission allowed for the admin", async () => {
    const fx = await frontAndProvider();
    try {
      const io = captureIo();
      expect(await main(["check"], io, { env: env({ KILN_AWS_API_URL: fx.front.url, AWS_ACCESS_KEY_ID: fx.moto.admin.id, AWS_SECRET_ACCESS_KEY: fx.moto.admin.secret, AWS_REGION: "us-east-1" }) })).toBe(0);
      expect(io.stderr).toBe("");
      expect(awsLine(io.stdout)).toMatch(/^aws {2}ok: arn:aws:iam::123456789012:user\/kiln-admin \(account 123456789012\) from AWS_ACCESS_KEY_ID; in us-east-1: 9 permissions checked by DryRun, none missing/);
    } finally {
      await fx.close();
    }
  });

  it("names the permissions a read-only identity lacks for launch, terminate and tagging", async () => {
    const fx = await frontAndProvider();
    try {
      const io = captureIo();
      expect(await main(["check"], io, { env: env({ KILN_AWS_API_URL: fx.front.url, AWS_ACCESS_KEY_ID: fx.moto.readonly.id, AWS_SECRET_ACCESS_KEY: fx.moto.readonly.secret, AWS_REGION: "us-east-1" }) })).toBe(1);
      expect(io.stderr).toMatchInlineSnapshot(`
        "error: AWS identity arn:aws:iam::123456789012:user/kiln-readonly (account 123456789012) from AWS_ACCESS_KEY_ID may not: ec2:RunInstances (launch), ec2:CreateTags (tag machines at launch), ec2:TerminateInstances (terminate), ec2:ImportKeyPair (register Kiln's SSH key), ec2:CreateSecurityGroup (open SSH to this computer only), ec2:AuthorizeSecurityGroupIngress (open SSH to this computer only)
          → attach an IAM policy allowing ec2:RunInstances, ec2:CreateTags, ec2:TerminateInstances, ec2:ImportKeyPair, ec2:CreateSecurityGroup, ec2:AuthorizeSecurityGroupIngress to arn:aws:iam::123456789012:user/kiln-readonly, then run: kiln check
        "
      `);
    } finally {
      await fx.close();
    }
  });

  it("wrong credentials: a clear error with the next step, no stack trace, no secret", async () => {
    const fx = await frontAndProvider();
    try {
      const e = env({ KILN_AWS_API_URL: fx.front.url, AWS_ACCESS_KEY_ID: "AKIAWRONGWRONGWRONG1", AWS_SECRET_ACCESS_KEY: "not-the-secret", AWS_REGION: "us-east-1" });
      const io = captureIo();
      expect(await main(["check"], io, { env: e })).toBe(1);
      expect(io.stderr.replaceAll(e["KILN_HOME"]!, "HOME")).toMatchInlineSnapshot(`
        "error: AWS rejected the credentials from AWS_ACCESS_KEY_ID (InvalidClientTokenId)
          → create an access key at https://console.aws.amazon.com/iam/home#/security_credentials, then set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or "aws" in HOME/credentials.json (mode 0600)
        "
      `);
      expect(io.stderr).not.toMatch(/\n\s+at /);
      expect(io.stderr + io.stdout).not.toContain("not-the-secret");
    } finally {
      await fx.close();
    }
  });

  it("kiln emulate aws serves moto behind the shim, and the environment it prints makes kiln check pass", async () => {
    const io = captureIo();
    const ac = new AbortController();
    const running = main(["emulate", "aws", "--port", "0"], io, { env: env(), signal: ac.signal });
    const deadline = Date.now() + 120_000;
    let line: RegExpExecArray | null = null;
    while (!line) {
      line = /try: (.*) kiln check/.exec(io.stdout);
      if (Date.now() > deadline) throw new Error(`emulator did not start: ${io.stderr}`);
      if (!line) await new Promise((r) => setTimeout(r, 50));
    }
    try {
      const vars = Object.fromEntries(line[1]!.split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
      expect(Object.keys(vars).sort()).toEqual(["AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_SECRET_ACCESS_KEY", "KILN_AWS_API_URL"]);
      const check = captureIo();
      expect(await main(["check"], check, { env: env(vars) })).toBe(0);
      expect(awsLine(check.stdout)).toMatch(/^aws {2}ok: arn:aws:iam::123456789012:user\/kiln-admin/);
    } finally {
      ac.abort();
    }
    expect(await running).toBe(0);
    expect(io.stdout).toMatch(/^AWS EC2 emulator listening on http:\/\/127\.0\.0\.1:\d+\n/);
    expect(io.stdout).toMatch(/AWS EC2 emulator stopped \(0 instances launched, 0 not terminated\)/);
  }, 180_000);
});

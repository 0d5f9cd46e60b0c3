// The scanner fires on realistic credentials and stays quiet on look-alikes. Credentials are assembled at
// run time from a seeded generator, so nothing in the repo looks like a real key (push protection and our
// own scanner would flag it).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../base/errors.js";
import { formatFinding, SecretsFoundError, scanBuffer, scanName, scanText, shannonEntropy } from "./index.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "test", "fixtures", "secrets");

// Deterministic xorshift, so a failing sample can be reproduced.
function generator(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
}
const rand = generator(20261128);
const UP = "ABCDEFGHJKLMNPQRSTUVWZ";
const DIG = "0123456789";
const LOW = "abcdghjkmnpqrstuvwz";
const ALNUM = UP + LOW + DIG;
const HEX = "0123456789abcdef";
const B64 = ALNUM + "+/";

const pemBody = () => Array.from({ length: 6 }, () => rand(64, B64)).join("\n");
const beginKey = (kind: string) => `-----BEGIN ${kind}PRIVATE KEY-----`;

// [rule, file name, contents]
const samples: Array<[string, string, string]> = [
  ["private-key", "deploy.pem", `${beginKey("RSA ")}\n${pemBody()}\n-----END RSA PRIVATE KEY-----\n`],
  ["private-key", "notes.txt", `key:\n${beginKey("OPENSSH ")}\n${pemBody()}\n-----END OPENSSH PRIVATE KEY-----\n`],
  ["lambda-api-key", "launch.sh", `curl -u ${"secret"}_kiln-dev_${rand(32, HEX)}.${rand(32, ALNUM)}: https://cloud.lambda.ai/api/v1/instances\n`],
  ["lambda-api-key", "env.sh", `LAMBDA_KEY=${"secret"}_${rand(20, LOW + DIG)}_${rand(24, ALNUM)}\n`],
  ["runpod-api-key", "pod.py", `client = RunPod(key="${"rpa"}_${rand(40, UP + DIG)}")\n`],
  ["aws-access-key-id", "aws.cfg", `[default]\naws_access_key_id = ${"AKIA"}${rand(16, UP + DIG)}\n`],
  ["aws-secret-access-key", "creds.ini", `aws_secret_access_key = ${rand(40, B64)}\n`],
  [
    "gcp-service-account",
    "sa.json",
    `{\n  "type": "service_account",\n  "project_id": "kiln-dev",\n  "private_key_id": "${rand(40, HEX)}",\n  "private_key": "${beginKey("")}\\n${rand(64, B64)}\\n-----END PRIVATE KEY-----\\n",\n  "client_email": "kiln@kiln-dev.iam.gserviceaccount.com"\n}\n`,
  ],
  ["azure-storage-key", "storage.py", `CONN = "DefaultEndpointsProtocol=https;AccountName=kilnstore;AccountKey=${rand(86, B64)}==;EndpointSuffix=core.windows.net"\n`],
  ["azure-client-secret", "azure.yaml", `client_secret: ${rand(3, ALNUM)}8${"Q~"}${rand(34, ALNUM)}\n`],
  ["huggingface-token", "download.py", `login(token="${"hf"}_${rand(34, ALNUM)}")\n`],
  ["wandb-api-key", "run.sh", `export WANDB_API_KEY=${rand(40, HEX)}\n`],
  ["wandb-api-key", "netrc", `machine api.wandb.ai\n  login user\n  password ${rand(40, HEX)}\n`],
  ["slack-webhook", "alerts.py", `URL = "https://hooks.slack.com/services/T${rand(10, UP + DIG)}/B${rand(10, UP + DIG)}/${rand(24, ALNUM)}"\n`],
  ["openai-api-key", "chat.py", `client = OpenAI(api_key="${"sk"}-proj-${rand(40, ALNUM)}${"T3Blbk"}FJ${rand(40, ALNUM)}")\n`],
  ["stripe-api-key", "billing.ts", `const stripe = new Stripe(process.argv[2] ?? "${"sk"}_live_${rand(32, ALNUM)}");\n`],
  ["slack-token", "notify.sh", `curl -H "Authorization: Bearer ${"xoxb"}-${rand(12, DIG)}-${rand(12, DIG)}-${rand(24, ALNUM)}" https://slack.com/api/chat.postMessage\n`],
  ["github-token", "ci.sh", `git clone https://x-access-token:${"ghp"}_${rand(36, ALNUM)}@github.com/org/repo\n`],
  ["high-entropy-assignment", "config.py", `OPENAI_API_KEY = "${rand(48, ALNUM)}"\n`],
  ["high-entropy-assignment", "db.yaml", `db:\n  password: ${rand(20, ALNUM)}\n`],
  ["high-entropy-assignment", "app.ts", `const sessionSecret = '${rand(32, B64)}';\n`],
  ["dotenv-file", ".env", `# local settings\nDATABASE_URL=postgres://kiln:${rand(8, LOW)}@db/kiln\n`],
];

describe("secret rules fire on realistic samples", () => {
  it.each(samples)("%s in %s", (rule, file, text) => {
    const found = scanText(file, text);
    expect(found.map((f) => f.rule)).toContain(rule);
    // The preview is masked: a few leading characters, then stars and the length.
    for (const f of found) expect(f.preview).toMatch(/\*\*\*\*…/);
  });

  it("reports the 1-based line of the finding", () => {
    const text = `a = 1\nb = 2\nHF = "${"hf"}_${rand(34, ALNUM)}"\n`;
    expect(scanText("x.py", text)).toEqual([
      { file: "x.py", line: 3, rule: "huggingface-token", route: "plain", preview: expect.stringMatching(/^hf_.\*\*\*\*… \(37 chars\)$/) },
    ]);
  });

  it("flags private-key files by name even when binary", () => {
    expect(scanBuffer("keys/id_ed25519", new Uint8Array([0, 1, 2, 3])).map((f) => f.rule)).toEqual(["private-key-file"]);
    expect(scanName("keys/id_ed25519.pub")).toEqual([]);
    expect(scanName("certs/client.p12").map((f) => f.rule)).toEqual(["private-key-file"]);
  });

  it("skips lines carrying the allow pragma", () => {
    expect(scanText("t.py", `TOKEN = "${"hf"}_${rand(34, ALNUM)}"  # kiln:allow-secret test fixture\n`)).toEqual([]);
  });
});

describe("look-alikes do not fire", () => {
  for (const name of readdirSync(join(FIXTURES, "lookalikes"))) {
    it(`fixture ${name}`, () => {
      const path = join(FIXTURES, "lookalikes", name);
      expect(scanBuffer(name, readFileSync(path))).toEqual([]);
    });
  }

  it("a base64-embedded image", () => {
    const img = `<img src="data:image/png;base64,${rand(4000, B64)}==">\n`;
    expect(scanText("index.html", img)).toEqual([]);
  });

  it("binary files are scanned for content (their printable runs)", () => {
    // This used to assert the opposite: binary files were skipped, so a key behind a NUL byte shipped.
    const bytes = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]), Buffer.from(`hf_${rand(34, ALNUM)}`)]);
    expect(scanBuffer("weights.bin", bytes)).toEqual([
      { file: "weights.bin", line: 0, offset: 6, rule: "huggingface-token", route: "nul-binary", preview: expect.stringMatching(/^hf_.\*\*\*\*…/) },
    ]);
  });

  it("low-entropy and short values assigned to secret names", () => {
    const text = ["API_KEY = 'aaaaaaaaaaaaaaaaaaaaaaaa'", "token = 'short1'", "max_tokens: 8192", "passwordHint = 'first pet'"].join("\n");
    expect(scanText("c.py", text)).toEqual([]);
  });
});

describe("SecretsFoundError", () => {
  it("is a UserError listing file:line, rule and preview, and how to allow-list", () => {
    const err = new SecretsFoundError([
      { file: "a.py", line: 3, rule: "huggingface-token", route: "plain", preview: "hf_a****… (37 chars)" },
      { file: "keys/id_rsa", line: 0, rule: "private-key-file", route: "name", preview: "(file name)" },
    ]);
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatchInlineSnapshot(`
      "refusing to upload: 2 possible secrets in 2 files of the bundle:
        a.py:3  huggingface-token  (hf_a****… (37 chars))
        keys/id_rsa  private-key-file  ((file name))"
    `);
    expect(err.hint).toContain('bundle.allow_secrets: ["a.py", "keys/id_rsa"]');
    expect(formatFinding(err.findings[0]!)).toBe("a.py:3  huggingface-token  (hf_a****… (37 chars))");
  });
});

describe("entropy", () => {
  it("is 0 for one repeated character and log2(n) for n distinct ones", () => {
    expect(shannonEntropy("aaaa")).toBe(0);
    expect(shannonEntropy("abcd")).toBeCloseTo(2);
  });
});

// Evasions of the secret scanner (issue 15, item 7): credentials behind a NUL byte, in UTF-16, wrapped in
// base64, split across string literals, inside notebooks and inside archives must still be found, and
// ordinary binaries, images and random base64 must not be. Every credential is fake, drawn at run time
// from a seeded generator (./testing/fakes.ts), so the repository holds nothing that looks like a key.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { formatFinding, type SecretFinding, SecretsFoundError, scanBuffer, scanFile } from "./index.js";
import { fakeCredentials, generator, notebookOf, pngOf, randomBytesOf, safetensorsOf, tarOf, tgzOf, utf16, zipOf } from "./testing/fakes.js";

const fake = fakeCredentials(20261215);
const b64 = (s: string | Uint8Array) => Buffer.from(s).toString("base64");
const wrap = (s: string, width: number) => s.match(new RegExp(`.{1,${width}}`, "g"))!.join("\n");
const lineOf = (text: string, needle: string) => text.slice(0, text.indexOf(needle)).split("\n").length;

const keyId = fake.awsKeyId();
const awsSecret = fake.awsSecret();
const awsIni = `[default]\naws_access_key_id = ${keyId}\naws_secret_access_key = ${awsSecret}\n`;
const hf = fake.hfToken();
const gh = fake.githubToken();
const pem = fake.pemLines();
const pemText = `${pem.join("\n")}\n`;
const apiKey = fake.apiKeyValue();
const openssh = fake.pemLines("OPENSSH ");
/** Every credential above: none may appear in a finding, an error message or a preview. */
const SECRETS = [keyId, awsSecret, hf, gh, apiKey, ...pem.slice(1, -1), ...openssh.slice(1, -1)];

interface Evasion {
  name: string;
  file: string;
  bytes: Buffer;
  expect: Array<Partial<SecretFinding>>;
}

const hfPy = `# download weights\nHF_TOKEN = "${hf}"\n`;
const k8s = `apiVersion: v1\nkind: Secret\ndata:\n  AWS_SECRET_ACCESS_KEY: ${b64(awsSecret)}\n`;
const pemArray = `{\n "deploy_key": [\n${pem.map((l) => `  "${l}"`).join(",\n")}\n ]\n}\n`;
const splitHf = `token = (\n    "${hf.slice(0, 17)}"\n    "${hf.slice(17)}"\n)\n`;
const notebookSource = notebookOf([{ source: `import openai\nOPENAI_API_KEY = "${apiKey}"\nclient = openai.OpenAI()` }]);
const notebookOutput = notebookOf([
  {
    source: "print(open(os.path.expanduser('~/.ssh/id_ed25519')).read())",
    outputs: [{ name: "stdout", output_type: "stream", text: openssh.map((l) => `${l}\n`) }],
  },
]);

const evasions: Evasion[] = [
  {
    name: "leading NUL: a PEM private key behind a NUL byte",
    file: "keys/deploy.key",
    bytes: Buffer.concat([Buffer.from([0]), Buffer.from(pemText)]),
    expect: [{ file: "keys/deploy.key", rule: "private-key", route: "nul-binary", line: 0, offset: 1 }],
  },
  {
    name: "leading NUL: AWS credentials behind NUL bytes",
    file: "aws/credentials",
    bytes: Buffer.concat([Buffer.alloc(4), Buffer.from(awsIni)]),
    expect: [
      { rule: "aws-access-key-id", route: "nul-binary", offset: 4 + awsIni.indexOf(keyId) },
      { rule: "aws-secret-access-key", route: "nul-binary", offset: 4 + awsIni.indexOf("aws_secret") },
    ],
  },
  {
    name: "binary: a token among the strings of a compiled file",
    file: "build/cli.pyc",
    bytes: Buffer.concat([Buffer.from([0x6f, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]), randomBytesOf(300, 7), Buffer.from([0xda, 0x28]), Buffer.from(gh), Buffer.from([0]), randomBytesOf(300, 8)]),
    expect: [{ rule: "github-token", route: "nul-binary", offset: 310 }],
  },
  ...(
    [
      ["le", true],
      ["le", false],
      ["be", true],
      ["be", false],
    ] as const
  ).map(([endian, bom]): Evasion => ({
    name: `UTF-16${endian.toUpperCase()} ${bom ? "with" : "without"} BOM`,
    file: "settings.ps1",
    bytes: utf16(hfPy, endian, bom),
    expect: [{ rule: "huggingface-token", route: `utf16${endian}`, line: 2 }],
  })),
  {
    name: "UTF-16LE AWS credentials file",
    file: "credentials.ini",
    bytes: utf16(awsIni, "le", true),
    expect: [
      { rule: "aws-access-key-id", route: "utf16le", line: 2 },
      { rule: "aws-secret-access-key", route: "utf16le", line: 3 },
    ],
  },
  {
    name: "base64: a credentials file encoded on one line",
    file: "deploy.py",
    bytes: Buffer.from(`import base64\nBLOB = "${b64(awsIni)}"\n`),
    expect: [
      { rule: "aws-access-key-id", route: "base64", line: 2 },
      { rule: "aws-secret-access-key", route: "base64", line: 2 },
    ],
  },
  {
    name: "base64: a PEM key wrapped at 76 columns, as base64(1) writes it",
    file: "ci/deploy_key.txt",
    bytes: Buffer.from(`# restore with: base64 -d\n${wrap(b64(pemText), 76)}\n`),
    expect: [{ rule: "private-key", route: "base64", line: 2 }],
  },
  {
    name: "base64: a Kubernetes secret whose value names its key",
    file: "k8s/secret.yaml",
    bytes: Buffer.from(k8s),
    expect: [{ rule: "aws-secret-access-key", route: "base64", line: 4 }],
  },
  {
    name: "base64url: a token in a URL-safe blob",
    file: "state.json",
    bytes: Buffer.from(`{"state": "${Buffer.from(`{"hub": "${hf}", "x": 1}`).toString("base64url")}"}\n`),
    expect: [{ rule: "huggingface-token", route: "base64", line: 1 }],
  },
  {
    name: "split: PEM lines as the elements of a JSON array",
    file: "deploy.json",
    bytes: Buffer.from(pemArray),
    expect: [{ rule: "private-key", route: "joined-strings", line: 3 }],
  },
  {
    name: 'split: "AKIA" + "…" concatenation',
    file: "upload.py",
    bytes: Buffer.from(`KEY_ID = "${keyId.slice(0, 4)}" + "${keyId.slice(4)}"\n`),
    expect: [{ rule: "aws-access-key-id", route: "joined-strings", line: 1 }],
  },
  {
    name: "split: implicit concatenation across lines",
    file: "login.py",
    bytes: Buffer.from(splitHf),
    expect: [{ rule: "huggingface-token", route: "joined-strings", line: 2 }],
  },
  {
    name: "split: a JS concatenation across lines",
    file: "push.js",
    bytes: Buffer.from(`const t =\n  '${gh.slice(0, 20)}' +\n  '${gh.slice(20)}';\n`),
    expect: [{ rule: "github-token", route: "joined-strings", line: 2 }],
  },
  {
    name: "split: a backslash-continued string",
    file: "push.sh",
    bytes: Buffer.from(`GH="${gh.slice(0, 20)}\\\n${gh.slice(20)}"\n`),
    expect: [{ rule: "github-token", route: "joined-strings", line: 1 }],
  },
  {
    name: "escaped: a token after a \\n escape in a JSON string",
    file: "log.json",
    bytes: Buffer.from(`{"message": "logged in\\n${hf}"}\n`),
    expect: [{ rule: "huggingface-token", route: "joined-strings", line: 1 }],
  },
  {
    name: "ipynb: a quoted assignment in a cell source",
    file: "notebooks/explore.ipynb",
    bytes: Buffer.from(notebookSource),
    expect: [{ rule: "high-entropy-assignment", route: "ipynb", line: lineOf(notebookSource, "OPENAI_API_KEY") }],
  },
  {
    name: "ipynb: a private key printed into a cell output",
    file: "notebooks/debug.ipynb",
    bytes: Buffer.from(notebookOutput),
    expect: [{ rule: "private-key", route: "ipynb", line: lineOf(notebookOutput, "-----BEGIN") }],
  },
  {
    name: "archive: AWS credentials inside a .tar.gz",
    file: "artifacts/run.tar.gz",
    bytes: tgzOf([
      ["run/README.md", "notes\n"],
      ["run/creds.ini", awsIni],
    ]),
    expect: [
      { file: "artifacts/run.tar.gz!run/creds.ini", archive: "artifacts/run.tar.gz", rule: "aws-access-key-id", route: "archive", line: 2 },
      { file: "artifacts/run.tar.gz!run/creds.ini", rule: "aws-secret-access-key", route: "archive", line: 3 },
    ],
  },
  {
    name: "archive: an SSH key file inside a plain .tar",
    file: "backup.tar",
    bytes: tarOf([["home/.ssh/id_ed25519", `${openssh.join("\n")}\n`]]),
    expect: [
      { file: "backup.tar!home/.ssh/id_ed25519", rule: "private-key-file", route: "archive>name", line: 0 },
      { file: "backup.tar!home/.ssh/id_ed25519", rule: "private-key", route: "archive", line: 1 },
    ],
  },
  {
    name: "archive: a token inside a deflated .zip",
    file: "export.zip",
    bytes: zipOf([["config/settings.py", hfPy]]),
    expect: [{ file: "export.zip!config/settings.py", rule: "huggingface-token", route: "archive", line: 2 }],
  },
  {
    name: "archive: a zip inside a tarball, UTF-16 inside the zip",
    file: "outer.tgz",
    bytes: tgzOf([["inner.zip", zipOf([["secrets.txt", utf16(`gh ${gh}\n`, "le", true)]], true)]]),
    expect: [{ file: "outer.tgz!inner.zip!secrets.txt", archive: "outer.tgz", rule: "github-token", route: "archive>archive>utf16le", line: 1 }],
  },
  {
    name: "archive: a .tar.gz renamed to .bin",
    file: "data/shard-0001.bin",
    bytes: tgzOf([["creds.ini", awsIni]]),
    expect: [{ file: "data/shard-0001.bin!creds.ini", rule: "aws-access-key-id", route: "archive" }],
  },
  {
    name: "archive: a single gzipped file",
    file: "logs/env.txt.gz",
    bytes: gzipSync(Buffer.from(`HOME=/root\nHF_TOKEN=${hf}\n`)),
    expect: [{ file: "logs/env.txt.gz!env.txt", rule: "huggingface-token", route: "archive", line: 2 }],
  },
];

describe("evasions are caught", () => {
  it.each(evasions)("$name", ({ file, bytes, expect: wanted }) => {
    const found = scanBuffer(file, bytes);
    for (const w of wanted) expect(found).toContainEqual(expect.objectContaining(w));
    const shown = JSON.stringify(found) + found.map(formatFinding).join("\n");
    for (const s of SECRETS) expect(shown).not.toContain(s);
    for (const f of found) expect(f.preview).toMatch(/\*\*\*\*…|^\(file name\)$/);
  });

  it("reports each finding with its file, rule, position, route and a masked preview", () => {
    const found = scanBuffer("aws/credentials", Buffer.concat([Buffer.alloc(1), Buffer.from(awsIni)]));
    expect(found).toEqual([
      { file: "aws/credentials", line: 0, offset: 1 + awsIni.indexOf(keyId), rule: "aws-access-key-id", route: "nul-binary", preview: `${keyId.slice(0, 4)}****… (20 chars)` },
      { file: "aws/credentials", line: 0, offset: 1 + awsIni.indexOf("aws_secret"), rule: "aws-secret-access-key", route: "nul-binary", preview: `${awsSecret.slice(0, 4)}****… (40 chars)` },
    ]);
    expect(formatFinding(found[0]!)).toBe(`aws/credentials @ byte ${1 + awsIni.indexOf(keyId)}  aws-access-key-id  (${keyId.slice(0, 4)}****… (20 chars))  via nul-binary`);
  });

  it("SecretsFoundError names the bundled archive, not its member, in the allow-list hint", () => {
    const found = scanBuffer("artifacts/run.tar.gz", tgzOf([["run/creds.ini", awsIni]]));
    const err = new SecretsFoundError(found);
    expect(err.message).toContain("artifacts/run.tar.gz!run/creds.ini:2  aws-access-key-id");
    expect(err.hint).toContain('bundle.allow_secrets: ["artifacts/run.tar.gz"]');
  });
});

describe("binary content is scanned for every known key format", () => {
  const rand = generator(20261216);
  const ALNUM = "ABCDEFGHJKLMNPQRSTUVWZabcdghjkmnpqrstuvwz0123456789";
  const HEX = "0123456789abcdef";
  // [rule, the string as a program would hold it in its data]
  const formats: Array<[string, string]> = [
    ["private-key", pemText],
    ["aws-access-key-id", keyId],
    ["aws-secret-access-key", `aws_secret_access_key=${awsSecret}`],
    ["github-token", gh],
    ["huggingface-token", hf],
    ["lambda-api-key", `${"secret"}_kiln-dev_${rand(32, HEX)}.${rand(32, ALNUM)}`],
    ["runpod-api-key", `${"rpa"}_${rand(40, ALNUM)}`],
    ["openai-api-key", `${"sk"}-proj-${rand(40, ALNUM)}${"T3Blbk"}FJ${rand(40, ALNUM)}`],
    ["stripe-api-key", `${"sk"}_live_${rand(32, ALNUM)}`],
    ["slack-token", `${"xoxb"}-${rand(12, "0123456789")}-${rand(12, "0123456789")}-${rand(24, ALNUM)}`],
    ["slack-webhook", `https://hooks.slack.com/services/T${rand(10, "ABCDEFGHJK0123456789")}/B${rand(10, "ABCDEFGHJK0123456789")}/${rand(24, ALNUM)}`],
    ["azure-storage-key", `AccountKey=${rand(86, ALNUM)}==`],
    ["wandb-api-key", `WANDB_API_KEY=${rand(40, HEX)}`],
  ];
  it.each(formats)("%s between random bytes", (rule, secret) => {
    const at = 1000;
    const bytes = Buffer.concat([randomBytesOf(at - 1, 21), Buffer.from([0]), Buffer.from(secret), Buffer.from([0]), randomBytesOf(1000, 22)]);
    const found = scanBuffer("model.pkl", bytes);
    expect(found).toContainEqual(expect.objectContaining({ rule, route: "nul-binary", offset: expect.any(Number) }));
    expect(found.find((f) => f.rule === rule)!.offset).toBeGreaterThanOrEqual(at);
    // The end of the credential (a PEM's body: its header is the preview) is never shown.
    expect(JSON.stringify(found)).not.toContain(rule === "private-key" ? pem[3]! : secret.slice(-16));
  });

  it("UTF-16LE strings inside a binary", () => {
    const bytes = Buffer.concat([randomBytesOf(500, 23), Buffer.from([0, 0]), Buffer.from(hf, "utf16le"), Buffer.from([0, 0]), randomBytesOf(500, 24)]);
    expect(scanBuffer("app.exe", bytes)).toContainEqual(expect.objectContaining({ rule: "huggingface-token", route: "utf16le", offset: 502 }));
  });
});

describe("ordinary binaries and encodings do not fire", () => {
  const lookalikes = join(import.meta.dirname, "..", "..", "..", "test", "fixtures", "secrets", "lookalikes");
  const fixtures = readdirSync(lookalikes).map((n) => [n, readFileSync(join(lookalikes, n))] as const);
  const negatives: Array<[string, string, Buffer]> = [
    ["a PNG image", "plots/loss.png", pngOf(randomBytesOf(64 * 1024, 11))],
    ["a safetensors file", "weights/model.safetensors", safetensorsOf(randomBytesOf(1024 * 1024, 12))],
    ["random bytes", "data/blob.bin", randomBytesOf(1024 * 1024, 13)],
    ["base64 of random bytes on one line", "payload.py", Buffer.from(`payload = "${b64(randomBytesOf(3000, 14))}"\n`)],
    ["base64 of random bytes, wrapped", "payload.txt", Buffer.from(`${wrap(b64(randomBytesOf(3000, 15)), 76)}\n`)],
    ["a data: URL of a PNG", "index.html", Buffer.from(`<img src="data:image/png;base64,${b64(pngOf(randomBytesOf(4000, 16)))}">\n`)],
    ["compiled code naming a PEM header", "keys.pyc", Buffer.concat([Buffer.from([0x6f, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]), Buffer.from(`\u0000\u0001-----BEGIN RSA PRIVATE ${"KEY"}-----\u0000\u0002parse_key`)])],
    ["UTF-16 documentation with AWS's example keys", "aws-docs.txt", utf16(readFileSync(join(lookalikes, "aws-docs.md"), "utf8"), "le", true)],
    ["a .tar.gz of look-alike fixtures", "lookalikes.tar.gz", tgzOf(fixtures)],
    ["a .zip of look-alike fixtures", "lookalikes.zip", zipOf(fixtures)],
    ["base64 of a look-alike fixture", "blob.txt", Buffer.from(b64(fixtures.find(([n]) => n === "ids.py")![1]))],
    [
      "ordinary string concatenation and lists",
      "strings.py",
      Buffer.from(
        [
          'url = "https://huggingface.co/" + repo + "/resolve/main/" + "config.json"',
          'prefix = "hf_" + model_name',
          'msg = ("Could not find the access key, "\n       "set AWS_ACCESS_KEY_ID or run aws configure")',
          'COLUMNS = ["input_ids", "attention_mask", "token_type_ids", "labels"]',
          "PEM = ['-----BEGIN RSA PRIVATE " + "KEY-----', '-----END RSA PRIVATE KEY-----']",
          'path = "C:\\\\Users\\\\kiln\\\\models\\\\tokenizer.json"',
        ].join("\n"),
      ),
    ],
    ["a JSON-lines data set", "train.jsonl", Buffer.from(Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: i, text: `example ${i}\nsecond line`, tokens: ["the", "cat", `w${i}`] })).join("\n"))],
    [
      "a notebook with an image output",
      "plot.ipynb",
      Buffer.from(
        notebookOf([
          {
            source: "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])",
            outputs: [{ output_type: "display_data", data: { "image/png": b64(pngOf(randomBytesOf(20000, 17))), "text/plain": ["<Figure size 640x480>"] }, metadata: {} }],
          },
        ]),
      ),
    ],
  ];

  it.each(negatives)("%s", (_name, file, bytes) => {
    expect(scanBuffer(file, bytes)).toEqual([]);
  });
});

describe("bounded cost", () => {
  it("opens archives two levels deep and says what it did not open", () => {
    const deep = tgzOf([["l1.tgz", tgzOf([["l2.tgz", tgzOf([["creds.ini", awsIni]])]])]]);
    const r = scanFile("deep.tgz", deep);
    expect(r.findings).toEqual([]);
    expect(r.unscanned).toEqual([{ file: "deep.tgz!l1.tgz!l2.tgz", reason: "archive nested more than 2 deep: not opened" }]);
    // An uncompressed archive that is not opened is still scanned as a binary, so its members show through.
    const plain = tgzOf([["l1.tar", tarOf([["l2.tar", tarOf([["creds.ini", awsIni]])]])]]);
    expect(scanFile("deep.tgz", plain).findings).toContainEqual(expect.objectContaining({ file: "deep.tgz!l1.tar!l2.tar", rule: "aws-access-key-id", route: "archive>archive>nul-binary" }));
  });

  it("stops expanding an archive at the byte limit (a gzip bomb costs a bounded amount)", () => {
    const bomb = tgzOf([
      ["zeros.bin", Buffer.alloc(8 * 1024 * 1024)],
      ["creds.ini", awsIni],
    ]);
    const r = scanFile("bomb.tar.gz", bomb, { archiveBytes: 1024 * 1024 });
    expect(r.findings).toEqual([]);
    expect(r.unscanned).toEqual([{ file: "bomb.tar.gz", reason: "archive expands past 1.0 MiB: the rest was not read" }]);
  });

  it("scans the head and tail of a large binary and names the gap", () => {
    const head = Buffer.concat([Buffer.alloc(1), Buffer.from(`${hf}\n`), randomBytesOf(1024 * 1024, 18)]);
    const middle = Buffer.concat([Buffer.from(`\n${gh}\n`), randomBytesOf(1024 * 1024, 19)]);
    const tail = Buffer.from(`\n${keyId}\n`);
    const bytes = Buffer.concat([head, middle, tail]);
    const r = scanFile("big.bin", bytes, { binaryBytes: 1024 * 1024 });
    expect(r.findings.map((f) => f.rule)).toEqual(["huggingface-token", "aws-access-key-id"]);
    expect(r.unscanned).toEqual([{ file: "big.bin", reason: `binary over 1.0 MiB: bytes 524288-${bytes.length - 524288} not scanned` }]);
  });

  it("decodes base64 up to a budget per file and says when it ran out", () => {
    const blobs = Array.from({ length: 20 }, (_, i) => `blob${i} = "${b64(randomBytesOf(3000, 100 + i))}"`).join("\n");
    const r = scanFile("blobs.py", Buffer.from(`${blobs}\nlast = "${b64(awsIni)}"\n`), { base64Chars: 16 * 1024 });
    expect(r.findings).toEqual([]);
    expect(r.unscanned).toEqual([{ file: "blobs.py", reason: "base64 budget of 16384 characters spent: later runs not decoded" }]);
  });
});

// Bundles from real temp trees: what goes in, what stays out, the manifest inside, determinism, and the
// secret scanner's veto. Archives are read back with node-tar, as the far side would unpack them.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as tar from "tar";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { SecretsFoundError } from "../secrets/index.js";
import { fakeCredentials, tgzOf } from "../secrets/testing/fakes.js";
import { createBundle, MANIFEST_NAME, parseManifest } from "./index.js";

let base: string;
const write = (root: string, rel: string, text: string) => {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
};

function makeTree(): { workdir: string; workload: string } {
  const root = mkdtempSync(join(base, "tree-"));
  const workdir = join(root, "job");
  const workload = join(root, "repo", "workload");
  write(workdir, "job.yaml", "name: demo\n");
  write(workdir, "train.sh", "#!/bin/sh\necho train\n");
  chmodSync(join(workdir, "train.sh"), 0o755);
  write(workdir, ".gitignore", "data/\n*.log\n");
  write(workdir, ".kilnignore", "checkpoints/\n");
  write(workdir, "data/big.bin", "x".repeat(1000));
  write(workdir, "run.log", "noise\n");
  write(workdir, "checkpoints/step1.pt", "weights");
  write(workdir, "node_modules/left-pad/index.js", "module.exports = 1;\n");
  write(workdir, ".venv/bin/python", "");
  write(workdir, ".git/HEAD", "ref: refs/heads/main\n");
  write(workdir, "src/__pycache__/m.cpython-311.pyc", "\u0000");
  write(workdir, "src/model.py", "print('hi')\n");
  write(workdir, "src/.gitignore", "scratch.py\n");
  write(workdir, "src/scratch.py", "tmp = 1\n");
  write(workdir, "deep/" + "d".repeat(60) + "/" + "f".repeat(60) + ".txt", "long path\n");
  write(root, "outside/notes.txt", "outside the tree\n");
  symlinkSync(join(root, "outside", "notes.txt"), join(workdir, "escape.txt"));
  symlinkSync(join(workdir, "job.yaml"), join(workdir, "alias.yaml"));
  symlinkSync(join(workdir, "src"), join(workdir, "src-link"));
  write(workload, "pyproject.toml", "[project]\nname = \"kiln-sae\"\n");
  write(workload, "kiln_sae/__init__.py", "");
  write(workload, "kiln_sae.egg-info/PKG-INFO", "x");
  write(workload, ".gitignore", "*.egg-info/\n");
  return { workdir, workload };
}

async function unpack(path: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await tar.t({
    file: path,
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on("data", (c: Buffer) => chunks.push(c));
      e.on("end", () => out.set(e.path, Buffer.concat(chunks)));
    },
  });
  return out;
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "kiln-bundle-"));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

describe("createBundle", () => {
  it("packs the workdir under job/ and workload/ under its name, honouring ignore files", async () => {
    const { workdir, workload } = makeTree();
    const b = await createBundle({ workdir, extraDirs: [workload], outDir: join(base, "out1") });
    expect(b.manifest.files.map((f) => f.path)).toEqual([
      "job/.gitignore",
      "job/.kilnignore",
      "job/alias.yaml",
      `job/deep/${"d".repeat(60)}/${"f".repeat(60)}.txt`,
      "job/job.yaml",
      "job/src/.gitignore",
      "job/src/model.py",
      "job/train.sh",
      "workload/.gitignore",
      "workload/kiln_sae/__init__.py",
      "workload/pyproject.toml",
    ]);
    expect(b.skipped).toEqual([
      { rel: "job/escape.txt", reason: "symlink points outside the tree" },
      { rel: "job/src-link", reason: "symlink to a directory" },
    ]);
    expect(b.manifest.files.find((f) => f.path === "job/train.sh")?.mode).toBe(0o755);
    expect(b.manifest.files.find((f) => f.path === "job/job.yaml")?.mode).toBe(0o644);
    expect(b.bytes).toBe(readFileSync(b.path).length);
    expect(b.sha256).toBe(createHash("sha256").update(readFileSync(b.path)).digest("hex"));
  });

  it("stores the manifest first, and every file matches its manifest entry", async () => {
    const { workdir, workload } = makeTree();
    const b = await createBundle({ workdir, extraDirs: [workload], outDir: join(base, "out2") });
    const files = await unpack(b.path);
    const names = [...files.keys()];
    expect(names[0]).toBe(MANIFEST_NAME);
    expect(parseManifest(files.get(MANIFEST_NAME)!.toString("utf8"))).toEqual(b.manifest);
    for (const entry of b.manifest.files) {
      const content = files.get(entry.path);
      expect(content, entry.path).toBeDefined();
      expect(createHash("sha256").update(content!).digest("hex")).toBe(entry.sha256);
      expect(content!.length).toBe(entry.size);
    }
    expect(files.get("job/alias.yaml")!.toString()).toBe("name: demo\n");
  });

  it("is deterministic: the same tree gives the same sha256 whatever the mtimes", async () => {
    const { workdir, workload } = makeTree();
    const a = await createBundle({ workdir, extraDirs: [workload], outDir: join(base, "det-a") });
    utimesSync(join(workdir, "job.yaml"), new Date(2020, 1, 1), new Date(2020, 1, 1));
    const b = await createBundle({ workdir, extraDirs: [workload], outDir: join(base, "det-b") });
    expect(b.sha256).toBe(a.sha256);
    writeFileSync(join(workdir, "job.yaml"), "name: other\n");
    const c = await createBundle({ workdir, extraDirs: [workload], outDir: join(base, "det-c") });
    expect(c.sha256).not.toBe(a.sha256);
  });

  it("refuses a tree holding a secret and writes nothing", async () => {
    const { workdir } = makeTree();
    const token = ["hf", "_", "Qm7rT2x9LkPz4WcB8nVd3HsJf6GyA1uE5oR"].join("");
    write(workdir, "src/download.py", `login(token="${token}")\n`);
    write(workdir, ".env", "WANDB_MODE=offline\n");
    const outDir = join(base, "refused");
    const err = await createBundle({ workdir, outDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsFoundError);
    const found = (err as SecretsFoundError).findings.map((f) => `${f.file}:${f.line} ${f.rule}`);
    expect(found).toEqual([".env:1 dotenv-file", "src/download.py:1 huggingface-token"]);
    expect((err as SecretsFoundError).message).not.toContain(token);
    expect(existsSync(outDir) ? readdirSync(outDir) : []).toEqual([]);
  });

  it("lets allow-listed paths through and reports them", async () => {
    const { workdir } = makeTree();
    write(workdir, "tests/fixtures/key.pem", `-----BEGIN ${"PRIVATE KEY"}-----\n${"Mc4Cq".repeat(10)}\n-----END PRIVATE KEY-----\n`);
    const b = await createBundle({ workdir, allowSecretsIn: ["tests/fixtures/"], outDir: join(base, "allowed") });
    expect(b.manifest.files.map((f) => f.path)).toContain("job/tests/fixtures/key.pem");
    expect(b.allowed.map((f) => f.rule)).toEqual(["private-key"]);
  });

  it("refuses a key behind a NUL byte and credentials inside a tarball, naming the member and the route", async () => {
    const { workdir } = makeTree();
    const fake = fakeCredentials(7);
    const keyId = fake.awsKeyId();
    writeFileSync(join(workdir, "deploy.key"), Buffer.concat([Buffer.from([0]), Buffer.from(`${fake.pemLines().join("\n")}\n`)]));
    writeFileSync(join(workdir, "run.tar.gz"), tgzOf([["run/creds.ini", `[default]\naws_access_key_id = ${keyId}\n`]]));
    const err = await createBundle({ workdir, outDir: join(base, "evasions") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsFoundError);
    const found = (err as SecretsFoundError).findings.map((f) => `${f.file} ${f.line}/${f.offset} ${f.rule} ${f.route}`);
    expect(found).toEqual(["deploy.key 0/1 private-key nul-binary", "run.tar.gz!run/creds.ini 2/undefined aws-access-key-id archive"]);
    expect((err as SecretsFoundError).message).not.toContain(keyId);
    expect((err as SecretsFoundError).hint).toContain('bundle.allow_secrets: ["deploy.key", "run.tar.gz"]');
  });

  it("allow-lists an archive by its own path, and warns when a limit left part of a file unscanned", async () => {
    const { workdir } = makeTree();
    const hf = fakeCredentials(8).hfToken();
    mkdirSync(join(workdir, "fixtures"));
    writeFileSync(join(workdir, "fixtures/tokens.tgz"), tgzOf([["t.txt", `${hf}\n`]]));
    writeFileSync(join(workdir, "deep.tgz"), tgzOf([["a.tgz", tgzOf([["b.tgz", tgzOf([["c.txt", "nothing here\n"]])]])]]));
    const warnings: string[] = [];
    const b = await createBundle({ workdir, allowSecretsIn: ["fixtures/"], outDir: join(base, "allowed-archive"), logger: { ...nullLogger, warn: (m: string) => warnings.push(m) } });
    expect(b.allowed.map((f) => `${f.file} ${f.rule}`)).toEqual(["fixtures/tokens.tgz!t.txt huggingface-token"]);
    expect(warnings).toEqual([
      expect.stringMatching(/^allow-listed possible secret shipped: fixtures\/tokens\.tgz!t\.txt:1 {2}huggingface-token {2}\(hf_.\*\*\*\*… \(37 chars\)\) {2}via archive$/),
      "secret scan incomplete: deep.tgz!a.tgz!b.tgz: archive nested more than 2 deep: not opened",
    ]);
  });

  it("refuses a bundle over the size limit, naming the largest files", async () => {
    const { workdir } = makeTree();
    write(workdir, "dataset.jsonl", "y".repeat(4096));
    await expect(createBundle({ workdir, maxBytes: 2048, outDir: join(base, "big") })).rejects.toThrow(/job\/dataset\.jsonl {2}0\.00 MiB/);
  });
});

// Bundle → SFTP upload → unpack → manifest check → checklist, over a real OpenSSH server on loopback
// (H2a's harness), with the fake nvidia-smi / python3 / df first on the remote PATH.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkUnpacked, createBundle, unpackAndVerify } from "../../remote/bundle/index.js";
import { SshConnection } from "../../remote/ssh/connection.js";
import { KnownHosts } from "../../remote/ssh/known-hosts.js";
import { uploadFile } from "../../remote/ssh/sftp.js";
import { startSshd, sshdAvailable, type TestSshd } from "../../remote/ssh/loopback-sshd.js";
import { KilnError } from "../../base/errors.js";
import { type MachineNeed, MachineNotReadyError, requireMachineReady } from "./index.js";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const TOOLS = join(ROOT, "test", "fixtures", "fake-tools");
const SMI = join(ROOT, "test", "fixtures", "nvidia-smi");

const need: MachineNeed = {
  gpu: { count: 1, minVramGb: 30, minFreeVramGb: 30 },
  minTorch: "2.4",
  bf16: "preferred",
  diskGb: 40,
  diskPath: ".",
  python: "python3",
  afterSetup: true,
  hfTokenProvided: false,
};

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("bundle and checklist over SSH", () => {
  let sshd: TestSshd;
  let conn: SshConnection;
  let dir: string;
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), "kiln-verify-ssh-"));
    for (const tool of ["python3", "df", "nvidia-smi"]) sshd.installCommand(tool, `#!/bin/sh\nexec ${join(TOOLS, tool)} "$@"\n`);
    conn = await SshConnection.open(
      { host: sshd.host, port: sshd.port, user: sshd.user, privateKey: sshd.clientKey },
      { knownHosts: new KnownHosts(join(dir, "known_hosts")), timeoutMs: 10_000 },
    );
  });
  afterAll(async () => {
    conn?.close();
    await sshd?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("ships a bundle that unpacks to exactly its manifest, and catches a changed file", async () => {
    const work = join(dir, "job");
    mkdirSync(join(work, "src"), { recursive: true });
    writeFileSync(join(work, "job.yaml"), "name: ssh-demo\n");
    writeFileSync(join(work, "src", "my file.py"), "print('spaces survive')\n");
    const bundle = await createBundle({ workdir: work, extraDirs: [join(ROOT, "workload")], outDir: join(dir, "out") });
    await uploadFile(conn, bundle.path, "kiln/bundle.tar.gz");
    const r = await unpackAndVerify(conn, "kiln/bundle.tar.gz", "kiln/job-1", bundle.manifest);
    expect(r).toEqual({ verified: bundle.manifest.files.length, mismatched: [], missing: [] });
    expect(bundle.manifest.files.some((f) => f.path.startsWith("workload/kiln_sae/"))).toBe(true);

    writeFileSync(join(sshd.home, "kiln", "job-1", "job", "src", "my file.py"), "tampered\n");
    rmSync(join(sshd.home, "kiln", "job-1", "job", "job.yaml"));
    expect(await checkUnpacked(conn, "kiln/job-1", bundle.manifest)).toMatchObject({ mismatched: ["job/src/my file.py"], missing: ["job/job.yaml"] });
    await expect(unpackAndVerify(conn, "kiln/missing.tar.gz", "kiln/job-2", bundle.manifest)).rejects.toBeInstanceOf(KilnError);
  }, 60_000);

  it("a ready machine passes; a failing check stops the run with its advice", async () => {
    const env = {
      FAKE_PYTHON_FACTS: join(TOOLS, "python-facts", "a100-ready.json"),
      FAKE_NVIDIA_SMI_SCRIPT: join(SMI, "fake-nvidia-smi"),
      FAKE_NVIDIA_SMI_FIXTURE: join(SMI, "a100-40gb"),
    };
    sshd.setEnv(env);
    const ok = await requireMachineReady(conn, need);
    expect(ok.every((r) => r.status === "pass" || r.status === "skip")).toBe(true);

    sshd.setEnv({ ...env, FAKE_PYTHON_FACTS: join(TOOLS, "python-facts", "cuda-too-new.json") });
    const err = await requireMachineReady(conn, need).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MachineNotReadyError);
    expect((err as MachineNotReadyError).message).toContain(conn.where);
    expect((err as MachineNotReadyError).message).toContain("--index-url https://download.pytorch.org/whl/cu124");
  }, 60_000);
});

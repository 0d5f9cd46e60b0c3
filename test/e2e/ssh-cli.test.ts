// `kiln pull` and `kiln ssh` in-process against a real sshd: pull pins the host key and copies verified
// artifacts into the job folder; `kiln ssh` runs through the generated Host block with real OpenSSH,
// which enforces the same pin; a rebuilt machine is refused until `--forget-host`.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { jobLayout } from "../../src/core/job/index.js";
import { saveMachineAccess } from "../../src/remote/ssh/access.js";
import { Ledger } from "../../src/store/index.js";
import { startSshd, sshdAvailable, type TestSshd } from "../helpers/sshd.js";

const hasSshClient = (() => {
  try {
    execFileSync("ssh", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

// Skipped only where openssh-server/-client are not installed (.ci/run installs them).
describe.skipIf(!sshdAvailable || !hasSshClient)("kiln pull / kiln ssh", () => {
  let sshd: TestSshd;
  let home: string;
  let userHome: string;
  const jobId = "20261128-120000-abcd";
  const kiln = async (...argv: string[]) => {
    const io = captureIo();
    const code = await main(argv, io, { env: { ...process.env, KILN_HOME: home, HOME: userHome } });
    return { code, stdout: io.stdout, stderr: io.stderr };
  };
  beforeAll(async () => {
    sshd = await startSshd();
    home = mkdtempSync(join(tmpdir(), "kiln-sshcli-"));
    userHome = join(home, "user");
    const layout = jobLayout(join(home, "jobs"), jobId);
    mkdirSync(layout.dir, { recursive: true });
    const ledger = Ledger.open(join(home, "ledger.db"));
    ledger.createJob({ id: jobId, name: "sae-pii", kind: "sae", specYaml: "name: sae-pii\n", jobDir: layout.dir });
    ledger.close();
    saveMachineAccess(layout.dir, {
      v: 1,
      hostAlias: "kiln-sae-pii",
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      keyPath: sshd.clientKeyPath,
      hostKeyAlias: "test-machine-1",
      artifactsDir: "job/out",
    });
    mkdirSync(join(sshd.home, "job", "out", "sae"), { recursive: true });
    writeFileSync(join(sshd.home, "job", "out", "sae", "sae.safetensors"), Buffer.alloc(10_000, 7));
    writeFileSync(join(sshd.home, "job", "out", "probe.json"), "{}\n");
  });
  afterAll(async () => {
    await sshd?.cleanup();
    rmSync(home, { recursive: true, force: true });
  });

  it("kiln pull copies and verifies the artifacts into the job folder and the ledger", async () => {
    const r = await kiln("pull", "sae-pii");
    expect(r.stderr).toMatch(/^pinned the host key of test-machine-1: SHA256:\S+ \(trust on first use\)\n$/);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Pulled 2 files (0.0 MB), 0 unchanged, into ${join(home, "jobs", jobId, "outputs")}\nAll 2 files verified (sha256 matches the machine).\n`);
    expect(readFileSync(join(home, "jobs", jobId, "outputs", "probe.json"), "utf8")).toBe("{}\n");
    const again = await kiln("pull", "sae-pii");
    expect(again.stdout).toMatch(/^Pulled 0 files \(0\.0 MB\), 2 unchanged/);
    const ledger = Ledger.open(join(home, "ledger.db"));
    expect(ledger.listArtifacts(jobId).map((a) => [a.path, a.verified_at !== null])).toEqual([
      ["probe.json", true],
      ["sae/sae.safetensors", true],
    ]);
    ledger.close();
  });

  it("kiln ssh runs a command through the Host block, with OpenSSH enforcing Kiln's pin", async () => {
    const r = await kiln("ssh", "sae-pii", "--", "sh", "-c", 'echo "in $PWD"; exit 5');
    expect(r.stdout).toBe(`in ${sshd.home}\n`);
    expect(r.code).toBe(5);
    const cfg = readFileSync(join(home, "ssh_config"), "utf8");
    expect(cfg).toContain("Host kiln-sae-pii\n");
    expect(cfg).toContain("  HostKeyAlias test-machine-1\n");
    expect(cfg).toContain("  StrictHostKeyChecking yes\n");
    const printed = await kiln("ssh", "sae-pii", "--print-config");
    expect(printed.stdout.endsWith(`ssh -F ${join(home, "ssh_config")} kiln-sae-pii\n`)).toBe(true);
  });

  it("installs the Include only when asked, once", async () => {
    await kiln("ssh", "sae-pii", "--print-config");
    expect(() => readFileSync(join(userHome, ".ssh", "config"))).toThrow();
    mkdirSync(join(userHome, ".ssh"), { recursive: true });
    writeFileSync(join(userHome, ".ssh", "config"), "Host work\n  User me\n");
    expect((await kiln("ssh", "sae-pii", "--print-config", "--install-ssh-config")).code).toBe(0);
    await kiln("ssh", "sae-pii", "--print-config", "--install-ssh-config");
    const text = readFileSync(join(userHome, ".ssh", "config"), "utf8");
    expect(text.match(/^Include /gm)).toHaveLength(1);
    expect(text.indexOf("Include")).toBeLessThan(text.indexOf("Host work"));
  });

  it("a rebuilt machine is refused by both kiln pull and ssh until the pin is forgotten", async () => {
    await sshd.restart({ newHostKey: true });
    const pull = await kiln("pull", "sae-pii");
    expect(pull.code).toBe(1);
    expect(pull.stderr).toContain("error [host-key-changed]: SECURITY: the host key of test-machine-1 changed");
    const ssh = await kiln("ssh", "sae-pii", "--", "true");
    expect(ssh.code).toBe(255);
    expect(ssh.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    const forget = await kiln("ssh", "--forget-host", "test-machine-1");
    expect(forget.stdout).toBe("Forgot the pinned host key of test-machine-1; the next connection pins the key it presents.\n");
    expect((await kiln("pull", "sae-pii")).code).toBe(0);
    expect((await kiln("ssh", "sae-pii", "--", "true")).code).toBe(0);
  });
});

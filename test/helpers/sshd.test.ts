// The harness itself: a real sshd that serves our key, runs commands in the instance home with the
// injected PATH/env, drops connections on demand and comes back with a new host key.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, sshdAvailable, type TestSshd } from "./sshd.js";

const ssh = (s: TestSshd, cmd: string) =>
  execFileSync(
    "ssh",
    ["-i", s.clientKeyPath, "-p", String(s.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", `${s.user}@${s.host}`, cmd],
    { encoding: "utf8" },
  );

// Skipped only where openssh-server is not installed (.ci/run installs it).
describe.skipIf(!sshdAvailable)("test sshd harness", () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.cleanup();
  });

  it("runs commands in the instance home with the fake commands first on PATH and injected env", () => {
    sshd.installCommand("nvidia-smi", "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559'\n");
    sshd.setEnv({ KILN_TEST_FLAG: "it's set" });
    expect(ssh(sshd, 'pwd; echo "$HOME"; nvidia-smi; echo "$KILN_TEST_FLAG"')).toBe(
      `${sshd.home}\n${sshd.home}\nNVIDIA H100 80GB HBM3, 81559\nit's set\n`,
    );
  });

  it("restarts with a different host key on the same port", async () => {
    const before = sshd.hostPublicKey;
    const port = sshd.port;
    await sshd.restart({ newHostKey: true });
    expect(sshd.port).toBe(port);
    expect(sshd.hostPublicKey).not.toBe(before);
    expect(ssh(sshd, "echo up")).toBe("up\n");
  });
});

// `kiln run` on provider ssh when the host's key changed since Kiln pinned it (real loopback sshd,
// restarted with a new host key): the job fails with the SECURITY message saying what to check, and
// nothing is registered or started on the host.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { kilnPaths } from "../../src/core/home.js";
import { bundleDriver } from "../../src/core/lifecycle/testing/driver-bundle.js";
import { SshConnection } from "../../src/remote/ssh/connection.js";
import { KnownHosts } from "../../src/remote/ssh/known-hosts.js";
import { type TestSshd, sshdAvailable, startSshd } from "../../src/remote/ssh/loopback-sshd.js";
import { Ledger } from "../../src/store/index.js";

const FAKE = resolve(import.meta.dirname, "..", "fixtures", "workloads", "fake-python");
let home: string;
let env: NodeJS.ProcessEnv;
let sshd: TestSshd;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "kiln-hostkey-"));
  env = { ...process.env, KILN_HOME: join(home, "kiln"), KILN_CLOUD_DRIVER_ENTRY: await bundleDriver(), KILN_FOLLOW_INTERVAL_MS: "200", KILN_CLOUD_POLL_MS: "500" };
});
afterAll(async () => {
  await sshd?.cleanup();
  rmSync(home, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
});

describe.skipIf(!sshdAvailable)("provider ssh: a changed host key (loopback sshd)", () => {
  it("stops the job with the security error and touches nothing on the host", async () => {
    sshd = await startSshd();
    const t = sshd.target();
    // Pinned on first use, as an earlier job on this host did.
    const first = await SshConnection.open({ host: t.host, port: t.port, user: t.user, privateKey: t.privateKey }, { knownHosts: new KnownHosts(kilnPaths(env).knownHosts), timeoutMs: 10_000 });
    first.close();
    await sshd.restart({ newHostKey: true });
    writeFileSync(join(home, "data.jsonl"), '{"text": "hi"}\n');
    const spec = join(home, "job.yaml");
    writeFileSync(
      spec,
      `name: hostkey\nbudget: { max_usd: 1 }\nresources:\n  providers: [ssh]\n  ssh: { host: ${t.host}, port: ${t.port}, user: ${t.user}, key: ${t.privateKeyPath} }\nworkload:\n  type: sae-pii\n  python: ${FAKE}\n  sae: { base_model: minilm, layer: 3, dataset: { path: data.jsonl }, tokens: 40960, device: cpu }\n`,
    );
    const io = captureIo();
    const code = await main(["run", spec], io, { env, cwd: home });
    expect(code).toBe(1);
    const id = /\((\d{8}-\d{6}-[0-9a-f]{4})\)/.exec(io.stdout)![1]!;
    expect(io.stdout).toMatch(/job hostkey \(.*\) failed/);
    const l = Ledger.open(kilnPaths(env).ledger);
    try {
      expect(l.getJob(id)!.state).toBe("failed");
      const reason = l.listEvents(id, { kind: "job_state" }).at(-1)!.reason ?? "";
      expect(reason).toMatch(new RegExp(`SECURITY: the host key of \\[127\\.0\\.0\\.1\\]:${t.port} changed`));
      expect(reason).toMatch(/kiln ssh --forget-host/);
      expect(l.listEvents(id, { kind: "run_started" })).toEqual([]);
    } finally {
      l.close();
    }
    // Nothing registered, shipped or started on the host.
    expect(existsSync(join(sshd.home, ".kiln", "machines")) ? readdirSync(join(sshd.home, ".kiln", "machines")) : []).toEqual([]);
    expect(existsSync(join(sshd.home, "kiln", "jobs", id))).toBe(false);
  }, 120_000);
});

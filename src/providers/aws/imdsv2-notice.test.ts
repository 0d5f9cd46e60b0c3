// EC2's reclaim notice needs IMDSv2's token. The core watcher (src/core/lifecycle/notice.ts), with EC2's notice
// (./notice.ts), run for real against the shim's IMDSv2 emulation: it stays quiet with no notice, and on a
// reclaim it records the notice and SIGTERMs the run (which checkpoints) before the instance goes. A GET
// without the token gets a 401.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { type Exec, localExec } from "../../remote/exec.js";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { startRun } from "../../remote/session/run.js";
import { NOTICE_WATCHER_SCRIPT } from "../../core/lifecycle/notice.js";
import { EC2_RECLAIM_NOTICE } from "./notice.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("EC2 reclaim notice over IMDSv2 (moto + shim)", () => {
  it("the watcher fetches a token and fires on the notice; a GET without the token is refused with 401", async () => {
    const fx = await frontAndProvider();
    try {
      const spot = (await fx.provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "prefer" }, AbortSignal.timeout(30_000))).find((o) => o.spot)!;
      const m = await fx.provider.launch({ intentId: `0bad1d5e-${Date.now().toString(16)}`, offer: spot, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, AbortSignal.timeout(30_000));
      const instanceId = m.id.split("/")[1]!;
      const home = await pollUntil(async () => fx.front.homeOf(instanceId), { what: "the machine's sshd", timeoutMs: 30_000, intervalMs: 50 });
      const machineDir = fx.front.machineDirOf(instanceId)!;
      const onMachine: Exec = { where: `emulated ${instanceId}`, run: (argv, o = {}) => localExec.run(argv, { ...o, cwd: o.cwd ?? home, env: { ...o.env, KILN_SIM_MACHINE: machineDir } }) };
      // The emulated IMDS of this machine (169.254.169.254 on EC2; on loopback every machine shares one address).
      const imds = `${fx.front.url}/__imds/${instanceId}/latest`;
      const runDir = join(home, "run");
      await startRun(onMachine, { name: "kiln-job", dir: runDir, argv: ["sh", "-c", "trap 'echo checkpointed > \"$0\"; exit 0' TERM; while :; do sleep 0.1; done", join(home, "checkpointed")], method: "setsid" });
      const script = (name: string, text: string) => {
        const p = join(home, name);
        writeFileSync(p, text);
        return p;
      };
      const t = EC2_RECLAIM_NOTICE.token!;
      // Quiet until the notice, then the notice recorded and the run SIGTERMed.
      await startRun(onMachine, {
        name: "kiln-notice",
        dir: join(home, "notice-run"),
        argv: ["sh", script("watcher.sh", NOTICE_WATCHER_SCRIPT), runDir, join(home, "notice"), "0.2", `${imds}/meta-data/spot/instance-action`, "ok", "", `${imds}/api/token`, t.headers[0]!, t.header],
        method: "setsid",
      });
      await new Promise((r) => setTimeout(r, 600));
      expect(existsSync(join(home, "notice"))).toBe(false);
      // EC2 gives two minutes between the notice and the termination: here the termination waits for the checkpoint.
      fx.front.notice(instanceId);
      // What a GET without the token sees with the notice pending: 401, so it could never fire.
      expect((await fetch(`${imds}/meta-data/spot/instance-action`)).status).toBe(401);
      const notice = await pollUntil(async () => (existsSync(join(home, "notice")) ? readFileSync(join(home, "notice"), "utf8") : undefined), { what: "the notice", timeoutMs: 30_000, intervalMs: 50 });
      expect(notice).toMatch(/^reclaim notice at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n\{"action":"terminate","time":"\d{4}-[^"]+Z"\}$/);
      await pollUntil(async () => (existsSync(join(home, "checkpointed")) ? true : undefined), { what: "the run's SIGTERM checkpoint", timeoutMs: 30_000, intervalMs: 50 });
      await fx.front.reclaim(instanceId);
      expect((await fx.provider.describe(m.id, AbortSignal.timeout(30_000))).reclaimed?.reason).toMatch(/^Server\.SpotInstanceTermination/);
    } finally {
      await fx.close();
    }
  }, 120_000);
});

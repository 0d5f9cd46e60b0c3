// The offline cap on EC2, with the real watchdog: nothing of Kiln's runs but the machine's own processes,
// the cap is reached, the watchdog stops the job and ends billing the way EC2 allows with no cloud key on
// the machine — its poweroff — and moto's own state shows the instance terminated (Kiln launched it with
// InstanceInitiatedShutdownBehavior=terminate; moto has no guest OS, so the shim turns the emulated
// machine's poweroff into what EC2 does). Spend stays within the cap by the shim's billing clock.
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pollUntil } from "../../base/deadline.js";
import { secondsUntilCap, startWatchdog, watchdogForJob } from "../../core/watchdog/index.js";
import { jobSpecSchema } from "../../core/spec/job-spec.js";
import { type Exec, localExec } from "../../remote/exec.js";
import { sshdAvailable } from "../../remote/ssh/loopback-sshd.js";
import { startRun } from "../../remote/session/run.js";
import { EMULATED_POWEROFF } from "./configured.js";
import { awsDescriptor } from "./descriptor.js";
import { frontAndProvider, TEST_KEY_NAME, TEST_PUBLIC_KEY } from "./testing/fixtures.js";
import { VENV_PYTHON } from "./testing/moto.js";

const GRACE_S = 3;
/** watchdogForJob reserves the grace and 30 s for the end of billing; the deadline is this after launch. */
const FIRE_AFTER_S = 2;

describe.skipIf(!existsSync(VENV_PYTHON) || !sshdAvailable)("aws offline cap: the watchdog's poweroff ends billing (moto + shim)", () => {
  it("at the cap the watchdog stops the job and powers off; moto shows the instance terminated and spend is within the cap", async () => {
    const fx = await frontAndProvider();
    try {
      const [offer] = await fx.provider.listOffers({ gpus: ["L4-24GB"], count: 1, minVramGb: 24, spot: "never" }, AbortSignal.timeout(30_000));
      const m = await fx.provider.launch({ intentId: `0cab0ff0-${Date.now().toString(16)}`, offer: offer!, sshKeyName: TEST_KEY_NAME, sshPublicKey: TEST_PUBLIC_KEY }, AbortSignal.timeout(30_000));
      const instanceId = m.id.split("/")[1]!;
      const home = await pollUntil(async () => fx.front.homeOf(instanceId), { what: "the machine's sshd", timeoutMs: 30_000, intervalMs: 50 });
      const machineDir = fx.front.machineDirOf(instanceId)!;
      // Commands run as the machine's own sessions do: in its home, carrying its KILN_SIM_MACHINE (what the
      // loopback sshd gives every session), so they die with it and its poweroff is its own.
      const onMachine: Exec = { where: `emulated ${instanceId}`, run: (argv, o = {}) => localExec.run(argv, { ...o, cwd: o.cwd ?? home, env: { ...o.env, KILN_SIM_MACHINE: machineDir } }) };
      const runDir = join(home, "run");
      await startRun(onMachine, { name: "kiln-cap-job", dir: runDir, argv: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"], method: "setsid" });
      const price = offer!.pricePerHour;
      const capS = FIRE_AFTER_S + GRACE_S + 30;
      const spec = jobSpecSchema.parse({ name: "aws-cap", resources: { providers: ["aws"], min_vram_gb: 10 }, budget: { max_usd: (price * capS) / 3600, on_cap_offline: "stop-billing" }, workload: { type: "command", run: ["true"] }, artifacts: {} });
      const launchedAtMs = Date.parse(m.launchedAt ?? new Date().toISOString());
      const w = watchdogForJob({
        spec,
        jobId: "aws-cap",
        runDir,
        watchdogDir: join(home, "watchdog"),
        outputsDir: join(home, "outputs"),
        graceS: GRACE_S,
        secondsUntilCap: secondsUntilCap({ budget: spec.budget, capPricePerHour: price, launchedAtMs, nowMs: Date.now() }).seconds,
        // The emulated machine's poweroff; on EC2 itself the descriptor's cap gives `shutdown -h now`.
        endBilling: EMULATED_POWEROFF,
        capabilities: awsDescriptor.cap,
      });
      expect(w.endBilling).toBe(EMULATED_POWEROFF);
      await startWatchdog(onMachine, w);
      const state = await pollUntil(
        async () => {
          const r = await fx.front.motoEc2().send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
          const s = r.Reservations?.[0]?.Instances?.[0]?.State?.Name;
          return s === "terminated" || s === "stopped" ? s : undefined;
        },
        { what: "moto's instance to end", timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(state).toBe("terminated");
      // The shim's meter closes once its terminate call returns (a moment after moto's state changes).
      const bill = await pollUntil(async () => fx.front.billed().find((b) => b.id === instanceId && b.status === "terminated"), { what: "the meter to close", timeoutMs: 10_000, intervalMs: 20 });
      expect(bill.costUsd).toBeLessThanOrEqual(spec.budget.max_usd);
      // The machine is gone with everything it ran, as on EC2.
      expect(fx.front.homeOf(instanceId)).toBeUndefined();
      await pollUntil(async () => (existsSync(machineDir) ? undefined : true), { what: "the machine's directory to go", timeoutMs: 30_000, intervalMs: 50 });
    } finally {
      await fx.close();
    }
  }, 120_000);
});

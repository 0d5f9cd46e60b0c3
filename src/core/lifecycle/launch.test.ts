// Launch with failover against the emulator and a real SQLite ledger: the cheapest region sells out
// between listing and launch, Kiln moves to the next offer and says where it went and why.
import { afterEach, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { startSimulatedLambda, type SimulatedLambda } from "../../providers/lambda/configured.js";
import { Ledger } from "../../store/index.js";
import { NEVER_LAUNCHED, failureTable, launchWithFailover } from "./launch.js";

const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln";
const signal = new AbortController().signal;
let sim: SimulatedLambda | undefined;
afterEach(async () => {
  await sim?.close();
});

function ledgerWithJob() {
  const ledger = Ledger.open(":memory:");
  ledger.createJob({ id: "j1", name: "j", kind: "sae-pii", specYaml: "", jobDir: "/tmp/j1" });
  return { ledger, attempt: ledger.startAttempt("j1", "lambda") };
}

describe("launchWithFailover", () => {
  it("fails over when the cheapest region sells out, with a table of why, and commits every intent first", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const offers = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    expect(offers.map((o) => o.region)).toEqual(["us-east-1", "us-west-1"]);
    sim.emulator.setCapacity("gpu_1x_a10", "us-east-1", 0);
    const { ledger, attempt } = ledgerWithJob();
    const r = await launchWithFailover({ provider: sim.provider, ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(r.offer.region).toBe("us-west-1");
    expect(r.failures).toMatchObject([{ offer: "gpu_1x_a10 in us-east-1 ($0.75/h)", kind: "capacity" }]);
    expect(failureTable(r.failures)).toMatch(/gpu_1x_a10 in us-east-1 \(\$0\.75\/h\)\s+capacity\s+Lambda POST \/instance-operations\/launch failed \(instance-operations\/launch\/insufficient-capacity/);
    const rows = ledger.listMachines("j1");
    expect(rows.map((m) => m.state)).toEqual([NEVER_LAUNCHED, "pending"]);
    expect(rows[1]!.provider_id).toBe(r.machine.id);
    expect(sim.emulator.inspect().map((i) => [i.name, i.region])).toEqual([[`kiln-${rows[1]!.intent_id}`, "us-west-1"]]);
  });

  it("resolves a lost launch answer by name, never launching twice", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const offers = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    sim.emulator.inject({ kind: "lost-response", match: { method: "POST", path: "/instance-operations/launch" }, times: 1 });
    const { ledger, attempt } = ledgerWithJob();
    const r = await launchWithFailover({ provider: sim.provider, ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(sim.emulator.inspect()).toHaveLength(1);
    expect(r.machine.id).toBe(sim.emulator.inspect()[0]!.id);
    expect(ledger.listMachines("j1").map((m) => m.provider_id)).toEqual([r.machine.id]);
  });

  it("gives up after the cap with the whole table when nothing has capacity", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const offers = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    for (const r of ["us-east-1", "us-west-1"]) sim.emulator.setCapacity("gpu_1x_a10", r, 0);
    const { ledger, attempt } = ledgerWithJob();
    await expect(launchWithFailover({ provider: sim.provider, ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger })).rejects.toThrow(
      /no offer could be launched \(2 tried\):\n {2}gpu_1x_a10 in us-east-1 .* capacity .*\n {2}gpu_1x_a10 in us-west-1 .* capacity/,
    );
    expect(sim.emulator.inspect()).toEqual([]);
    expect(ledger.listMachines("j1").every((m) => m.state === NEVER_LAUNCHED)).toBe(true);
  });
});

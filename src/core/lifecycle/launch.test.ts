// Launch with failover against the emulator and a real SQLite ledger: the cheapest region sells out
// between listing and launch, Kiln moves to the next offer and says where it went and why. Launches whose
// outcome is unknown (lost answers, 200 without an id) are resolved by name through a lagging listing;
// a terminate that cannot be confirmed ends loudly.
import { afterEach, describe, expect, it } from "vitest";
import { nullLogger } from "../../base/logger.js";
import { startSimulatedLambda, type SimulatedLambda } from "../../providers/lambda/configured.js";
import { Ledger } from "../../store/index.js";
import { type LaunchRequest, LaunchOutcomeUnknownError, type Provider, ProviderError } from "../../providers/provider.js";
import { ToyCloud, toyDescriptor } from "../../providers/testing/toy-cloud.js";
import { NEVER_LAUNCHED, failureTable, findByIntent, launchWithFailover } from "./launch.js";
import { terminateAndConfirm } from "./teardown.js";

const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln";
const signal = new AbortController().signal;
let sim: SimulatedLambda | undefined;
afterEach(async () => {
  await sim?.close();
});

/** launchWithFailover's provider options for one provider. */
const oneProvider = (provider: Provider) => ({ providerFor: async () => provider, blockedProviders: new Set<string>(), listingLagMs: () => 60_000 });

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
    const r = await launchWithFailover({ ...oneProvider(sim.provider), ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(r.offer.region).toBe("us-west-1");
    expect(r.failures).toMatchObject([{ provider: "lambda", offer: "lambda gpu_1x_a10 in us-east-1 ($0.75/h)", kind: "capacity" }]);
    expect(failureTable(r.failures)).toMatch(/lambda gpu_1x_a10 in us-east-1 \(\$0\.75\/h\)\s+capacity\s+Lambda POST \/instance-operations\/launch failed \(instance-operations\/launch\/insufficient-capacity/);
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
    const r = await launchWithFailover({ ...oneProvider(sim.provider), ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(sim.emulator.inspect()).toHaveLength(1);
    expect(r.machine.id).toBe(sim.emulator.inspect()[0]!.id);
    expect(ledger.listMachines("j1").map((m) => m.provider_id)).toEqual([r.machine.id]);
  });

  it("gives up after the cap with the whole table when nothing has capacity", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const offers = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    for (const r of ["us-east-1", "us-west-1"]) sim.emulator.setCapacity("gpu_1x_a10", r, 0);
    const { ledger, attempt } = ledgerWithJob();
    await expect(launchWithFailover({ ...oneProvider(sim.provider), ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger })).rejects.toThrow(
      /no offer could be launched \(2 tried\):\n {2}lambda gpu_1x_a10 in us-east-1 .* capacity .*\n {2}lambda gpu_1x_a10 in us-west-1 .* capacity/,
    );
    expect(sim.emulator.inspect()).toEqual([]);
    expect(ledger.listMachines("j1").every((m) => m.state === NEVER_LAUNCHED)).toBe(true);
  });
});

describe("the cloud-side deadline", () => {
  it("passes each intent's deadline to the provider's launch, computed for that intent's row", async () => {
    const toy = new ToyCloud("toy-a", toyDescriptor("toy-a").catalog);
    const seen: (number | undefined)[] = [];
    const launch = toy.launch.bind(toy);
    toy.launch = async (req: LaunchRequest) => {
      seen.push(req.maxRunSeconds);
      return launch(req);
    };
    const offers = await toy.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" });
    const { ledger, attempt } = ledgerWithJob();
    const rows: number[] = [];
    await launchWithFailover({ ...oneProvider(toy), ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "k", sshPublicKey: PUB, signal, logger: nullLogger, maxRunSecondsFor: (row) => {
        rows.push(row);
        return 3600;
      },
    });
    expect(seen).toEqual([3600]);
    expect(rows).toEqual([ledger.listMachines("j1")[0]!.id]);
  });

  it("asks for the disk the planner sized, and the ledger's rate counts it with the machine", async () => {
    const toy = new ToyCloud("toy-a", toyDescriptor("toy-a").catalog);
    const seen: (number | undefined)[] = [];
    const launch = toy.launch.bind(toy);
    toy.launch = async (req: LaunchRequest) => {
      seen.push(req.diskGb);
      return launch(req);
    };
    const [offer] = await toy.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" });
    const { ledger, attempt } = ledgerWithJob();
    const sized = { ...offer!, launchDisk: { gb: 470, usdPerHour: 0.0644 } };
    await launchWithFailover({ ...oneProvider(toy), ledger, jobId: "j1", attemptId: attempt.id, offers: [sized, offer!], maxOffers: 1, sshKeyName: "k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(seen).toEqual([470]);
    const [row] = ledger.listMachines("j1");
    expect(row!.price_per_hour).toBeCloseTo(offer!.pricePerHour + 0.0644, 9);
    expect(JSON.parse(row!.offer_json)).toMatchObject({ launchDisk: { gb: 470 } });
  });
});

describe("launchWithFailover across providers", () => {
  /** Two toy clouds: `a` is the cheaper, and fails the way a test says. */
  function twoClouds(aFails: ProviderError | undefined) {
    const a = new ToyCloud("toy-a", toyDescriptor("toy-a").catalog);
    const b = new ToyCloud("toy-b", toyDescriptor("toy-b").catalog);
    if (aFails) a.launch = async () => Promise.reject(aFails);
    const byName: Record<string, Provider> = { "toy-a": a, "toy-b": b };
    const offersOf = async (c: ToyCloud) => c.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" });
    return { a, b, byName, offers: async () => [...(await offersOf(a)), { ...(await offersOf(a))[0]!, region: "toy-2" }, ...(await offersOf(b))] };
  }

  it.each([
    ["quota", new ProviderError("toy-a", "quota", "instance limit reached")],
    ["auth", new ProviderError("toy-a", "auth", "key revoked")],
    ["billing", new ProviderError("toy-a", "billing", "balance below $1")],
  ])("a %s error rules that provider out and moves on to the next provider's offers", async (kind, err) => {
    const t = twoClouds(err);
    const { ledger, attempt } = ledgerWithJob();
    const blocked = new Set<string>();
    const r = await launchWithFailover({ providerFor: async (n) => t.byName[n]!, blockedProviders: blocked, listingLagMs: () => 0, ledger, jobId: "j1", attemptId: attempt.id, offers: await t.offers(), maxOffers: 5, sshKeyName: "k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(r.offer.provider).toBe("toy-b");
    expect(r.provider).toBe(t.b);
    // One call to toy-a: its second region is skipped, not tried, once the provider is ruled out.
    expect(r.failures.map((f) => [f.provider, f.kind])).toEqual([["toy-a", kind], ["toy-a", "skipped"]]);
    expect(r.failures[1]!.why).toBe("toy-a is ruled out for this job");
    expect([...blocked]).toEqual(["toy-a"]);
    expect(t.b.machines.size).toBe(1);
  });

  it("a capacity error tries the same provider's next region first", async () => {
    const t = twoClouds(undefined);
    t.a.soldOut.add("toy.a100");
    const { ledger, attempt } = ledgerWithJob();
    const blocked = new Set<string>();
    const r = await launchWithFailover({ providerFor: async (n) => t.byName[n]!, blockedProviders: blocked, listingLagMs: () => 0, ledger, jobId: "j1", attemptId: attempt.id, offers: await t.offers(), maxOffers: 5, sshKeyName: "k", sshPublicKey: PUB, signal, logger: nullLogger });
    // The toy's capacity error blocks the instance type on toy-a; toy-b sells it.
    expect(r.failures.map((f) => [f.provider, f.kind])).toEqual([["toy-a", "capacity"], ["toy-a", "skipped"]]);
    expect(r.offer.provider).toBe("toy-b");
    expect(blocked.size).toBe(0);
  });

  it("a provider whose credentials cannot be read is ruled out, and the next one launches", async () => {
    const t = twoClouds(undefined);
    const { ledger, attempt } = ledgerWithJob();
    const blocked = new Set<string>();
    const providerFor = async (n: string) => (n === "toy-a" ? Promise.reject(new Error("TOY_TOKEN is not set")) : t.byName[n]!);
    const r = await launchWithFailover({ providerFor, blockedProviders: blocked, listingLagMs: () => 0, ledger, jobId: "j1", attemptId: attempt.id, offers: await t.offers(), maxOffers: 5, sshKeyName: "k", sshPublicKey: PUB, signal, logger: nullLogger });
    expect(r.offer.provider).toBe("toy-b");
    expect(r.failures[0]).toMatchObject({ provider: "toy-a", kind: "auth", why: "TOY_TOKEN is not set" });
    expect([...blocked]).toEqual(["toy-a"]);
  });

  it("an invalid request stops: it is a bug or a bad spec value, and another provider would not fix it", async () => {
    const t = twoClouds(new ProviderError("toy-a", "invalid", "bad instance type"));
    const { ledger, attempt } = ledgerWithJob();
    await expect(launchWithFailover({ providerFor: async (n) => t.byName[n]!, blockedProviders: new Set(), listingLagMs: () => 0, ledger, jobId: "j1", attemptId: attempt.id, offers: await t.offers(), maxOffers: 5, sshKeyName: "k", sshPublicKey: PUB, signal, logger: nullLogger })).rejects.toThrow(/bad instance type/);
    expect(t.b.machines.size).toBe(0);
  });
});

/** The simulated Lambda with its listing hidden for the first `hiddenFor` listings (a lagging listing). */
function lagging(inner: Provider, hiddenFor: number): Provider & { listings: number } {
  const p = {
    name: inner.name,
    listings: 0,
    listOffers: inner.listOffers.bind(inner),
    launch: inner.launch.bind(inner),
    describe: inner.describe.bind(inner),
    terminate: inner.terminate.bind(inner),
    listMachines: async (s: AbortSignal) => (++p.listings <= hiddenFor ? [] : inner.listMachines(s)),
  };
  return p;
}

describe("findByIntent (a launch whose outcome is unknown)", () => {
  it("waits for a lagging listing instead of trusting the first empty one", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const [offer] = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    const m = await sim.provider.launch({ intentId: "abcdef01-0011223344", offer: offer!, sshKeyName: "kiln-k", sshPublicKey: PUB }, signal);
    const slow = lagging(sim.provider, 3);
    const found = await findByIntent(slow, "abcdef01-0011223344", signal, 10_000);
    expect(found?.id).toBe(m.id);
    expect(slow.listings).toBe(4);
  });

  it("concludes 'not launched' only after the lag, with two clean listings in a row", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    // A clock that moves 600 ms per reading: the first empty listing comes before the 1 s deadline and proves nothing.
    let t = 0;
    const slow = lagging(sim.provider, 0);
    const found = await findByIntent(slow, "abcdef01-9999999999", signal, 1_000, () => (t += 600));
    expect(found).toBeUndefined();
    expect(slow.listings).toBe(2);
  });

  it("stops at once on a permanent error (bad credentials), and refuses to conclude while listings fail", async () => {
    const denied: Provider = {
      name: "lambda",
      listOffers: async () => [],
      launch: async () => Promise.reject(new Error("unused")),
      describe: async () => Promise.reject(new Error("unused")),
      terminate: async () => {},
      listMachines: async () => Promise.reject(new ProviderError("lambda", "auth", "key revoked")),
    };
    await expect(findByIntent(denied, "abcdef01-0000000000", signal, 60_000)).rejects.toThrow(/key revoked/);
    let t = 0;
    const flaky: Provider = { ...denied, listMachines: async () => Promise.reject(new ProviderError("lambda", "transient", "HTTP 503")) };
    await expect(findByIntent(flaky, "abcdef01-0000000000", signal, 1_000, () => (t += 400))).rejects.toThrow(/cannot tell whether kiln-abcdef01-0000000000 was launched .*HTTP 503/);
  });

  it("a launch answered 200 without an id is resolved by name: one machine, recorded, never a second launch", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const offers = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    const { ledger, attempt } = ledgerWithJob();
    // The provider's launch says OK without an id; the instance exists all the same.
    const noId: Provider = {
      ...lagging(sim.provider, 0),
      launch: async (req, s) => {
        await sim!.provider.launch(req, s);
        throw new LaunchOutcomeUnknownError("lambda", `kiln-${req.intentId}`, "Lambda answered the launch with no instance id");
      },
    };
    const r = await launchWithFailover({ ...oneProvider(noId), ledger, jobId: "j1", attemptId: attempt.id, offers, maxOffers: 5, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger, listingLagMs: () => 2_000 });
    expect(sim.emulator.inspect()).toHaveLength(1);
    expect(ledger.listMachines("j1").map((m) => m.provider_id)).toEqual([r.machine.id]);
  });
});

describe("terminateAndConfirm", () => {
  it("a terminate that keeps failing ends loudly: may still be billing, the machine, and what to run", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 } });
    const [offer] = await sim.provider.listOffers({ gpus: ["A10-24GB"], count: 1, minVramGb: 1, spot: "never" }, signal);
    const { ledger, attempt } = ledgerWithJob();
    const r = await launchWithFailover({ ...oneProvider(sim.provider), ledger, jobId: "j1", attemptId: attempt.id, offers: [offer!], maxOffers: 1, sshKeyName: "kiln-k", sshPublicKey: PUB, signal, logger: nullLogger });
    sim.emulator.inject({ kind: "error-5xx", match: { method: "POST", path: "/instance-operations/terminate" } });
    const err = await terminateAndConfirm(sim.provider, ledger, r.row, "test", { pollMs: 50, timeoutMs: 1_500, signal, logger: nullLogger, consoleUrl: "https://cloud.example/instances" }).catch((e: unknown) => e);
    expect(String(err)).toMatch(new RegExp(`MACHINE ${r.machine.id} ON LAMBDA MAY STILL BE BILLING \\(\\$0\\.75/h\\).*Check https://cloud\\.example/instances, then run \`kiln down j1 --force\``));
    expect(ledger.listEvents("j1", { kind: "alert" })).toHaveLength(1);
    expect(ledger.getMachine(r.row.id)!.state).toBe("terminating");
  });

  it("stops at once when the provider refuses the credentials", async () => {
    const { ledger } = ledgerWithJob();
    const row = ledger.recordMachineIntent({ intentId: "abcdef01-1111111111", jobId: "j1", attemptId: null, provider: "lambda", offer: {}, pricePerHour: 1 });
    ledger.markMachineLaunched(row.id, "i-1", "active");
    let calls = 0;
    const denied: Provider = {
      name: "lambda",
      listOffers: async () => [],
      launch: async () => Promise.reject(new Error("unused")),
      describe: async () => Promise.reject(new Error("unused")),
      listMachines: async () => [],
      terminate: async () => {
        calls++;
        throw new ProviderError("lambda", "auth", "key revoked");
      },
    };
    await expect(terminateAndConfirm(denied, ledger, ledger.getMachine(row.id)!, "test", { pollMs: 50, timeoutMs: 60_000, signal, logger: nullLogger })).rejects.toThrow(/MAY STILL BE BILLING.*key revoked/);
    expect(calls).toBe(1);
  });
});

describe("host key aliases", () => {
  it("keep ids with their location distinct and within what known_hosts accepts", async () => {
    const { hostKeyAliasOf } = await import("./machine.js");
    const a = hostKeyAliasOf("aws", "us-east-1/i-0abc");
    const b = hostKeyAliasOf("aws", "us-east-1_2fi-0abc");
    expect(a).toBe("aws-us-east-1_2fi-0abc");
    expect(a).toMatch(/^[A-Za-z0-9_.:@[\]-]+$/);
    expect(b).not.toBe(a);
    expect(hostKeyAliasOf("lambda", "0920582c7ff041399e34823a0be62549")).toBe("lambda-0920582c7ff041399e34823a0be62549");
  });
});

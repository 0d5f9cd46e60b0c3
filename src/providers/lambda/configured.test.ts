// Wiring from configuration, and the simulated Lambda that `--sim` runs use.
import { afterEach, describe, expect, it } from "vitest";
import { TEST_PUBLIC_KEY as PUB } from "./testing/fixtures.js";
import { nullLogger } from "../../base/logger.js";
import { type SimulatedLambda, startSimulatedLambda } from "./configured.js";
import { lambdaDescriptor } from "./descriptor.js";

const signal = new AbortController().signal;
let sim: SimulatedLambda | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe("configured Lambda", () => {
  it("is absent without a key, and talks to KILN_LAMBDA_API_URL with one", async () => {
    const configured = (env: NodeJS.ProcessEnv) => lambdaDescriptor.configured!({ env, credentialsPath: "/nonexistent/credentials.json", logger: nullLogger });
    expect(await configured({})).toBeUndefined();
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 }, onLaunch: () => ({ ip: "127.0.0.1", port: 2200 }) });
    const lambda = await configured({ LAMBDA_API_KEY: sim.emulator.apiKey, KILN_LAMBDA_API_URL: sim.emulator.url });
    expect(lambda).toMatchObject({ source: "LAMBDA_API_KEY", emulated: true });
    const offers = await lambda!.provider.listOffers({ gpus: "any", count: 1, minVramGb: 0, spot: "never" }, signal);
    expect(offers.filter((o) => o.available).map((o) => o.gpu)).toContain("A100-40GB");
  });

  it("simulates a launch whose SSH endpoint comes from onLaunch", async () => {
    sim = await startSimulatedLambda({ emulator: { bootDelayMs: 0 }, onLaunch: () => ({ ip: "127.0.0.1", port: 2200 }), sshUser: "me" });
    const [offer] = await sim.provider.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" }, signal);
    const m = await sim.provider.launch({ intentId: "sim1", offer: offer!, sshPublicKey: PUB }, signal);
    await new Promise((r) => setTimeout(r, 5));
    expect(await sim.provider.describe(m.id, signal)).toMatchObject({ state: "running", ssh: { host: "127.0.0.1", port: 2200, user: "me" } });
  });
});

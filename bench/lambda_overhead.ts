/**
 * What Kiln's Lambda layer costs per launch, against the emulator with zero boot and terminate delay,
 * so every millisecond measured is Kiln's (client, schemas, provider mapping) plus loopback HTTP:
 *
 *   - one API round trip (GET /instances, decoded and validated by zod), median of many;
 *   - a full provider cycle: listOffers → launch (with SSH key registration) → describe until running
 *     → terminate → describe until terminated;
 *   - the same cycle under Lambda's real client-side pacing (1 request/s, launch 1 per 12 s), which is
 *     the floor Kiln imposes on itself to avoid 429s.
 *
 *   npx vite-node bench/lambda_overhead.ts
 *
 * Writes bench/results/lambda_overhead.json with the machine's description.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { createLambdaProvider } from "../src/providers/lambda/index.js";
import { startLambdaEmulator } from "../src/providers/lambda/emulator.js";
import type { LambdaProvider } from "../src/providers/lambda/provider.js";

const PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T kiln";
const signal = AbortSignal.timeout(300_000);
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function until(provider: LambdaProvider, id: string, state: string): Promise<number> {
  let polls = 0;
  for (;;) {
    polls++;
    if ((await provider.describe(id, signal)).state === state) return polls;
    if (polls > 10_000) throw new Error(`never reached ${state}`);
  }
}

async function cycle(provider: LambdaProvider, intentId: string) {
  const t0 = process.hrtime.bigint();
  const offers = await provider.listOffers({ gpus: ["A100-40GB"], count: 1, minVramGb: 40, spot: "never" }, signal);
  const offer = offers.find((o) => o.available);
  if (!offer) throw new Error("no offer");
  const m = await provider.launch({ intentId, offer, sshKeyName: "kiln", sshPublicKey: PUB }, signal);
  const launched = ms(t0);
  const bootPolls = await until(provider, m.id, "running");
  const running = ms(t0);
  await provider.terminate(m.id, signal);
  await until(provider, m.id, "terminated");
  return { launchMs: launched, runningMs: running, totalMs: ms(t0), bootPolls };
}

async function main() {
  const emu = await startLambdaEmulator({ bootDelayMs: 0, terminateDelayMs: 0, terminatedVisibleMs: 60_000, quota: { maxInstances: 1000 } });
  emu.setCapacity("gpu_1x_a100", "us-west-1", 1000);
  try {
    const fast = createLambdaProvider({ apiKey: emu.apiKey, baseUrl: emu.url, minIntervalMs: 0, launchIntervalMs: 0 });
    for (let i = 0; i < 20; i++) await fast.client.listInstances(signal); // warm up sockets and JIT
    const rtt: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      await fast.client.listInstances(signal);
      rtt.push(ms(t0));
    }
    const cycles = [];
    for (let i = 0; i < 10; i++) cycles.push(await cycle(fast, `bench-${i}`));
    const paced = createLambdaProvider({ apiKey: emu.apiKey, baseUrl: emu.url });
    const pacedCycle = await cycle(paced, "bench-paced");

    const result = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGb: Math.round(totalmem() / 2 ** 30), node: process.version, note: "loopback emulator; shared 2-core dev machine with other engineers' processes running" },
      requestRoundTripMs: { median: median(rtt), p90: [...rtt].sort((a, b) => a - b)[Math.floor(rtt.length * 0.9)] },
      unpacedCycleMs: {
        launchMedian: median(cycles.map((c) => c.launchMs)),
        runningMedian: median(cycles.map((c) => c.runningMs)),
        totalMedian: median(cycles.map((c) => c.totalMs)),
      },
      pacedCycleMs: pacedCycle,
      requestsServed: emu.requests.length,
    };
    mkdirSync(join(import.meta.dirname, "results"), { recursive: true });
    const out = join(import.meta.dirname, "results", "lambda_overhead.json");
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await emu.close();
  }
}

await main();

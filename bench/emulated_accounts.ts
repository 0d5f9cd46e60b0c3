/**
 * Every emulated cloud account that starts here, for the price benches: Lambda's harness
 * (startCloudHarness) and every cloud with an account harness (src/providers/NAME/testing/harness.ts),
 * each given 60 s to start. Clouds that are skipped are named with why.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startCloudHarness } from "../src/core/lifecycle/testing/cloud.js";
import type { AccountHarness, HarnessOptions } from "../src/providers/emulator-kit/harness.js";
import { providers } from "../src/providers/registry.js";

const ROOT = join(import.meta.dirname, "..");
const HARNESS_START_MS = 60_000;

export interface EmulatedAccount {
  provider: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not started within ${ms / 1000} s`)), ms).unref())]);

export async function startAccounts(): Promise<{ accounts: EmulatedAccount[]; skipped: Record<string, string> }> {
  const accounts: EmulatedAccount[] = [];
  const skipped: Record<string, string> = {};
  const lambda = await startCloudHarness({ bootDelayMs: 0, terminateDelayMs: 0, rateLimit: false });
  accounts.push({ provider: "lambda", env: lambda.env, close: () => lambda.close() });
  for (const d of providers().filter((x) => x.kind === "cloud" && x.name !== "lambda")) {
    const file = join(ROOT, "src", "providers", d.name, "testing", "harness.ts");
    if (!existsSync(file)) {
      skipped[d.name] = d.configured ? "no account harness (src/providers/NAME/testing/harness.ts)" : "catalog only: Kiln cannot ask it for prices yet";
      continue;
    }
    try {
      const mod = (await import(file)) as { startHarness(o?: HarnessOptions): Promise<AccountHarness> };
      const h = await within(mod.startHarness({ bootDelayMs: 0 }), HARNESS_START_MS, d.name);
      accounts.push({ provider: d.name, env: h.env, close: () => h.close() });
    } catch (e) {
      skipped[d.name] = `harness did not start: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
    }
  }
  return { accounts, skipped };
}

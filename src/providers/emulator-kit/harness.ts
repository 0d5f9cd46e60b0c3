/**
 * What a cloud's emulated account offers the lifecycle tests that run against every cloud (crash
 * injection, reclaim and recovery, failover): the environment that points a Kiln process at it, the
 * machines it still has, and a way to take one away. Each cloud's folder exports a function returning
 * one (`src/providers/<name>/testing/harness.ts`), and the shared tests iterate over them.
 */
export interface AccountHarness {
  /** The registered provider name this account serves. */
  readonly provider: string;
  /** The variables that point a Kiln process at this account (API key, base URL). */
  readonly env: Record<string, string>;
  /** Machines the account still has that are not terminated (they may bill); ids as the provider's MachineRecord.id. */
  live(): { id: string; name: string | undefined; status: string }[];
  /** Every machine ever launched, with what it billed. */
  billed(): { id: string; status: string; billedSeconds: number; costUsd: number }[];
  /** The machine's home directory (its loopback sshd's). */
  homeOf(id: string): string | undefined;
  /** Take a running machine away as a spot reclaim would; absent for providers without spot. */
  reclaim?(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Environment of every command run on the machines (e.g. FAKE_STEPS for the fake workload). */
  machineEnv?: Record<string, string>;
  bootDelayMs?: number;
}

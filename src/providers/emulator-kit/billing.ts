/**
 * An emulator's own meter: what each machine has billed, from launch until it was terminated (or now),
 * at its hourly price. Tests compare it with Kiln's ledger, and `kiln run --sim` keeps it beside the job.
 * Per-second billing, no minimum: each emulator rounds as its provider does when it bills differently.
 */
export interface MeteredMachine {
  id: string;
  status: string;
  billedSeconds: number;
  costUsd: number;
}

export class BillingMeter {
  readonly #machines = new Map<string, { startMs: number; endMs: number | undefined; pricePerHour: number; status: () => string }>();
  constructor(private readonly now: () => number = Date.now) {}

  start(id: string, pricePerHour: number, status: () => string): void {
    this.#machines.set(id, { startMs: this.now(), endMs: undefined, pricePerHour, status });
  }

  /** Billing ended (terminated, or stopped for providers that stop billing compute). Idempotent. */
  end(id: string): void {
    const m = this.#machines.get(id);
    if (m && m.endMs === undefined) m.endMs = this.now();
  }

  billed(): MeteredMachine[] {
    return [...this.#machines.entries()].map(([id, m]) => {
      const seconds = Math.max(0, ((m.endMs ?? this.now()) - m.startMs) / 1000);
      return { id, status: m.status(), billedSeconds: seconds, costUsd: (seconds / 3600) * m.pricePerHour };
    });
  }
}

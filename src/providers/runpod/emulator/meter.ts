/**
 * What each pod billed. A RunPod pod can be stopped and started again, billing compute only while it runs, so
 * the meter keeps segments per pod (the kit's BillingMeter has one start per machine). Per-second billing,
 * no minimum (RunPod bills by the second).
 */
export class PodMeter {
  readonly #pods = new Map<string, { pricePerHour: number; segments: { start: number; end: number | undefined }[] }>();
  constructor(private readonly now: () => number = Date.now) {}

  start(id: string, pricePerHour: number): void {
    const p = this.#pods.get(id) ?? { pricePerHour, segments: [] };
    p.pricePerHour = pricePerHour;
    if (p.segments.at(-1)?.end !== undefined || p.segments.length === 0) p.segments.push({ start: this.now(), end: undefined });
    this.#pods.set(id, p);
  }

  /** Compute billing ends (stopped, reclaimed, deleted). Idempotent. */
  end(id: string): void {
    const last = this.#pods.get(id)?.segments.at(-1);
    if (last && last.end === undefined) last.end = this.now();
  }

  billed(id: string): { billedSeconds: number; costUsd: number } {
    const p = this.#pods.get(id);
    if (!p) return { billedSeconds: 0, costUsd: 0 };
    const seconds = p.segments.reduce((s, g) => s + Math.max(0, ((g.end ?? this.now()) - g.start) / 1000), 0);
    return { billedSeconds: seconds, costUsd: (seconds / 3600) * p.pricePerHour };
  }
}

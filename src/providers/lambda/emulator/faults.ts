/**
 * Fault injection for the emulator, by probability or scripted ("the next N matching calls"):
 *
 * - `error-5xx`: answer 5xx with `provider/internal-unavailable`, doing nothing.
 * - `slow`: wait `delayMs`, then handle the request normally.
 * - `hang`: never answer (the client's timeout must fire); the request is not handled.
 * - `lost-response`: handle the request (a launch really creates the instance), then destroy the
 *   connection instead of answering — the "launch succeeded but the response was lost" case.
 * - `rate-limit`: answer 429 with Retry-After, doing nothing.
 * - `huge-body`: answer 200 with a JSON body of `bytes` (default 24 MiB), streamed in 64 KiB chunks
 *   without a Content-Length, doing nothing; the emulator counts what it managed to send
 *   (`streamedBytes`), so a test can see the client stopped reading early.
 *
 * Two more change what a launch (`POST /instance-operations/launch`) leaves behind; they match no
 * other request, whatever `match` says:
 *
 * - `listing-lag`: the launch succeeds and answers its id, but reads — `GET /instances` and
 *   `GET /instances/{id}` (404) — miss the instance for `delayMs` after the launch and for the next
 *   `requests` reads of it (both, when both are given; 1000 ms when neither is). It exists and bills
 *   meanwhile, and terminate and restart by id find it: only the read path lags, as an eventually
 *   consistent listing does.
 * - `no-id`: the launch creates the instance (it boots, bills, and is listed) but answers 200 with
 *   `{"instance_ids": []}`: the caller must find it by name.
 *
 * @example
 *   emu.inject({ kind: "listing-lag", requests: 3, times: 1 });   // the next launch stays unseen by 3 reads
 *   emu.inject({ kind: "no-id", times: 1 });
 *   // or in `kiln emulate lambda --config`: faults: [{ kind: listing-lag, delayMs: 5000 }]
 */

export type FaultKind = "error-5xx" | "slow" | "hang" | "lost-response" | "rate-limit" | "huge-body" | "listing-lag" | "no-id";

/** Kinds that shape a launch's outcome: they only ever match `POST /instance-operations/launch`. */
export const LAUNCH_FAULTS: ReadonlySet<FaultKind> = new Set(["listing-lag", "no-id"]);
const LAUNCH = { method: "POST", path: "/instance-operations/launch" } as const;

export interface FaultRule {
  kind: FaultKind;
  /** Which requests: `method` exact ("POST"), `path` under /api/v1, exact or ending in `*` as a prefix. */
  match?: { method?: string; path?: string };
  /** Chance per matching request; default 1. */
  probability?: number;
  /** Fire at most this many times (scripted faults); default unlimited. */
  times?: number;
  /** `slow`: the wait; `rate-limit`: the Retry-After; `listing-lag`: how long reads miss the instance. */
  delayMs?: number;
  /** `listing-lag`: how many reads miss the instance. */
  requests?: number;
  /** `huge-body`: the size of the body streamed. */
  bytes?: number;
  status?: number;
}

/** Deterministic PRNG (mulberry32), so a seeded fault run is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultPlan {
  readonly #rules: { rule: FaultRule; fired: number }[] = [];
  constructor(
    rules: readonly FaultRule[],
    private readonly random: () => number,
  ) {
    for (const r of rules) this.add(r);
  }

  add(rule: FaultRule): void {
    this.#rules.push({ rule, fired: 0 });
  }

  clear(): void {
    this.#rules.length = 0;
  }

  /** The first rule that matches and fires for this request, if any. */
  pick(method: string, path: string): FaultRule | undefined {
    for (const entry of this.#rules) {
      const { rule } = entry;
      if (rule.times !== undefined && entry.fired >= rule.times) continue;
      if (LAUNCH_FAULTS.has(rule.kind) && (method !== LAUNCH.method || path !== LAUNCH.path)) continue;
      if (rule.match?.method && rule.match.method.toUpperCase() !== method) continue;
      if (rule.match?.path && !pathMatches(rule.match.path, path)) continue;
      if (this.random() >= (rule.probability ?? 1)) continue;
      entry.fired++;
      return rule;
    }
    return undefined;
  }
}

function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

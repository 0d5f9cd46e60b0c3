/**
 * Fault injection shared by the cloud emulators: rules matched per request (method, path pattern),
 * by probability or scripted ("the next N matching calls"), drawn from a seeded PRNG so a fault run is
 * reproducible. The kit decides *whether* a fault fires; each emulator decides what it looks like in its
 * provider's dialect (a 5xx body, a 429 with Retry-After, a capacity error, a lost response).
 *
 * Kinds every emulator understands:
 * - `error-5xx`: answer a 5xx in the provider's envelope, doing nothing;
 * - `rate-limit`: answer 429 with Retry-After (`delayMs`), doing nothing;
 * - `slow`: wait `delayMs`, then handle normally; `hang`: never answer;
 * - `lost-response`: handle the request (a create really creates), then cut the connection;
 * - `capacity`: a create answers the provider's "no capacity" error;
 * - `listing-lag`: a create succeeds, but reads miss the new machine for `delayMs` and `requests` reads;
 * - `html-error`: answer an HTML error page (a proxy in front of the API), doing nothing.
 * Emulators may add their own kinds (`reclaim`, `no-id`); unknown kinds are matched like any other.
 *
 * @example
 *   const faults = new FaultPlan([{ kind: "capacity", match: { method: "POST", path: "/v2/pods" }, times: 1 }], seededRandom(7));
 *   const f = faults.pick("POST", "/v2/pods");   // the capacity rule, once
 */
export type FaultKind = "error-5xx" | "rate-limit" | "slow" | "hang" | "lost-response" | "capacity" | "listing-lag" | "html-error" | (string & {});

export interface FaultRule {
  kind: FaultKind;
  /** Which requests: `method` exact, `path` exact or ending in `*` as a prefix. Default: all. */
  match?: { method?: string; path?: string };
  /** Chance per matching request; default 1. */
  probability?: number;
  /** Fire at most this many times (scripted faults); default unlimited. */
  times?: number;
  /** `slow`: the wait; `rate-limit`: the Retry-After; `listing-lag`: how long reads miss the machine. */
  delayMs?: number;
  /** `listing-lag`: how many reads miss the machine. */
  requests?: number;
  /** `error-5xx`: which status (default 503). */
  status?: number;
}

/** Deterministic PRNG (mulberry32). */
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
    rules: readonly FaultRule[] = [],
    private readonly random: () => number = seededRandom(1),
  ) {
    for (const r of rules) this.add(r);
  }

  add(rule: FaultRule): void {
    this.#rules.push({ rule, fired: 0 });
  }

  clear(): void {
    this.#rules.length = 0;
  }

  /**
   * The first rule that matches and fires for this request, if any. `only` limits the kinds considered
   * (an emulator asks for create-shaping kinds on its create route and for the others everywhere).
   */
  pick(method: string, path: string, only?: ReadonlySet<FaultKind>): FaultRule | undefined {
    for (const entry of this.#rules) {
      const { rule } = entry;
      if (only && !only.has(rule.kind)) continue;
      if (rule.times !== undefined && entry.fired >= rule.times) continue;
      if (rule.match?.method && rule.match.method.toUpperCase() !== method.toUpperCase()) continue;
      if (rule.match?.path && !pathMatches(rule.match.path, path)) continue;
      if (this.random() >= (rule.probability ?? 1)) continue;
      entry.fired++;
      return rule;
    }
    return undefined;
  }
}

export function pathMatches(pattern: string, path: string): boolean {
  return pattern.endsWith("*") ? path.startsWith(pattern.slice(0, -1)) : pattern === path;
}

/**
 * An eventually consistent listing: a machine created under a `listing-lag` fault is missing from reads
 * until `untilMs` has passed and `reads` more reads have missed it. It exists and bills all the while.
 */
export class ListingLag {
  readonly #lagging = new Map<string, { untilMs: number; reads: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Start lagging `id` per the fault (1 s when the rule gives neither a time nor a count). */
  start(id: string, rule: FaultRule): void {
    const ms = rule.delayMs ?? (rule.requests === undefined ? 1000 : 0);
    this.#lagging.set(id, { untilMs: this.now() + ms, reads: rule.requests ?? 0 });
  }

  /** Whether a read of `id` misses it now (counts the read). */
  hides(id: string): boolean {
    const l = this.#lagging.get(id);
    if (!l) return false;
    if (this.now() >= l.untilMs && l.reads <= 0) {
      this.#lagging.delete(id);
      return false;
    }
    l.reads--;
    return true;
  }
}

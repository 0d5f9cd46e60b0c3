/**
 * What the watchdog did at the cap, read back by a client that returns (the driver, `kiln status
 * --refresh`, recovery): the watchdog's `cap-events` lines and the push module's `push-result.json`, both
 * in the watchdog's directory on the machine. Both come from the machine, so both are parsed, not trusted.
 */
import { z } from "zod";
import { KilnError } from "../../base/errors.js";
import type { Exec } from "../../remote/exec.js";

const STEPS = ["deadline", "checkpoint", "push", "outputs", "billing"] as const;

const CapEventSchema = z.strictObject({
  at: z.number().int().nonnegative(),
  step: z.enum(STEPS),
  result: z.string().regex(/^[a-z-]+$/),
  detail: z.string(),
});
export type CapEvent = z.infer<typeof CapEventSchema>;

export const PushResultSchema = z.object({
  ok: z.boolean(),
  store: z.string().optional(),
  files: z.number().int().nonnegative().optional(),
  bytes: z.number().int().nonnegative().optional(),
  error: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
});
export type PushResult = z.infer<typeof PushResultSchema>;

export interface CapOutcome {
  /** The watchdog's deadline passed (it acted); false while it is still waiting, or when it never ran. */
  reached: boolean;
  events: CapEvent[];
  /** The last push attempt's result, when there was one. */
  push: PushResult | undefined;
  /** Where the outputs are: verified in the store, left on the machine, or given up with billing (stop-billing). */
  outputs: "durable" | "on-machine" | "lost" | "unknown";
  /** What became of billing: ended by the watchdog, withheld (keep-data), failed, no means, or not decided yet. */
  billing: "ended" | "withheld" | "failed" | "no-means" | "pending";
}

const SEP = "\u0000";
const READ = `cat "$1/cap-events" 2>/dev/null; printf '\\0'; cat "$1/push-result.json" 2>/dev/null; exit 0`;

export function parseCapOutcome(eventsText: string, pushText: string, where: string): CapOutcome {
  const events: CapEvent[] = [];
  for (const line of eventsText.split("\n")) {
    if (line === "") continue;
    const [at, step, result, ...detail] = line.split("\t");
    const e = CapEventSchema.safeParse({ at: Number(at), step, result, detail: detail.join("\t") });
    if (!e.success) throw new KilnError("remote-output-unparsable", `unexpected watchdog event from ${where}: ${JSON.stringify(line.slice(0, 200))}`);
    events.push(e.data);
  }
  let push: PushResult | undefined;
  if (pushText.trim() !== "") {
    let json: unknown;
    try {
      json = JSON.parse(pushText);
    } catch (e) {
      throw new KilnError("remote-output-unparsable", `the watchdog's push-result.json on ${where} is not JSON`, { cause: e });
    }
    const p = PushResultSchema.safeParse(json);
    if (!p.success) throw new KilnError("remote-output-unparsable", `the watchdog's push-result.json on ${where} is invalid: ${p.error.message}`);
    push = p.data;
  }
  const last = (step: CapEvent["step"]) => events.filter((e) => e.step === step).at(-1);
  const pushed = last("push");
  const billed = last("billing");
  const outputs = pushed?.result === "verified" ? "durable" : last("outputs")?.result === "lost" ? "lost" : events.length > 0 ? "on-machine" : "unknown";
  const billing = billed === undefined ? "pending" : billed.result === "ended" ? "ended" : billed.result === "withheld" ? "withheld" : billed.result === "no-means" ? "no-means" : "failed";
  return { reached: last("deadline") !== undefined, events, push, outputs, billing };
}

/** Read the watchdog's outcome from its directory on the machine. */
export async function readCapOutcome(exec: Exec, dir: string, opts: { signal?: AbortSignal } = {}): Promise<CapOutcome> {
  const r = await exec.run(["sh", "-c", READ, "sh", dir], { timeoutMs: 30_000, ...(opts.signal && { signal: opts.signal }) });
  if (r.code !== 0) throw new KilnError("remote-command-failed", `reading the watchdog's outcome on ${exec.where} failed (exit ${r.code}): ${r.stderr.slice(-500)}`);
  const i = r.stdout.indexOf(SEP);
  return parseCapOutcome(i < 0 ? r.stdout : r.stdout.slice(0, i), i < 0 ? "" : r.stdout.slice(i + 1), exec.where);
}

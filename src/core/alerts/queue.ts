/**
 * Fire-and-forget alert delivery: {@link AlertQueue.send} returns at once and deliveries run one at a
 * time in the background, so a slow or dead webhook never blocks the job. {@link AlertQueue.drain}
 * waits (with a deadline) for what is queued, for the moment a supervisor is about to exit.
 */
import type { Logger } from "../../base/logger.js";
import { nullLogger, redact } from "../../base/logger.js";
import { type DeliveryOptions, type DeliveryResult, DEFAULT_DELIVERY, type SlackMessage, postWebhook } from "./webhook.js";

/** Alert categories, as the job spec's `alerts.on` names them. */
export type AlertEvent = "started" | "budget" | "stalled" | "preempted" | "failed" | "done";

export interface Alert {
  event: AlertEvent;
  jobName: string;
  title: string;
  detail?: string;
}

export function slackMessage(a: Alert): SlackMessage {
  const icon: Record<AlertEvent, string> = { started: "▶️", budget: "💸", stalled: "⏸️", preempted: "⚠️", failed: "❌", done: "✅" };
  const text = `${icon[a.event]} kiln job *${a.jobName}*: ${a.title}${a.detail ? `\n${a.detail}` : ""}`;
  return { text, blocks: [{ type: "section", text: { type: "mrkdwn", text } }] };
}

export class AlertQueue {
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  readonly results: (DeliveryResult & { event: AlertEvent })[] = [];

  constructor(
    private readonly url: string | undefined,
    private readonly enabled: ReadonlySet<AlertEvent>,
    private readonly logger: Logger = nullLogger,
    private readonly delivery: DeliveryOptions = DEFAULT_DELIVERY,
  ) {}

  /** Queue an alert; returns immediately. Alerts the spec did not ask for, or with no URL, are dropped. */
  send(a: Alert): void {
    if (!this.url || !this.enabled.has(a.event)) return;
    const url = this.url;
    this.pending++;
    this.chain = this.chain.then(async () => {
      const r = await postWebhook(url, slackMessage(a), this.delivery).catch((e: unknown) => ({ ok: false as const, attempts: 0, error: String(e) }));
      this.results.push({ ...r, event: a.event });
      this.pending--;
      if (r.ok) this.logger.debug("alert delivered", { event: a.event, attempts: r.attempts });
      // The URL is a secret: never log it, and scrub it from error text.
      else this.logger.warn(`alert "${a.title}" not delivered: ${redact(r.error, [url])}`);
    });
  }

  get inFlight(): number {
    return this.pending;
  }

  /** Wait for queued deliveries, at most `ms`. Returns whether everything finished. */
  async drain(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), ms);
    });
    const done = this.chain.then(() => true);
    const r = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return r;
  }
}

/**
 * The emulated account's audit log (`GET /audit-events`): one event per change the API makes
 * (instance launched, terminated, ...), newest last, served in pages with an opaque `page_token`.
 * Resource types are `service.resource` ("cloud.instance"), as the spec's `resource_type` example
 * ("cloud.api_key") spells them.
 */
import { randomBytes } from "node:crypto";
import { parseDateTime } from "./requests.js";

export interface AuditEvent {
  service_name: string;
  resource_name: string;
  action: string;
  catalog_version: string;
  event_id: string;
  event_time: string;
  actor_lrn: string | null;
  resource_lrns: string[];
  resource_owner_lrn: string | null;
  request_api_key_lrn: string | null;
  additional_details: Record<string, unknown>;
}

const PAGE_SIZE = 100;
const CATALOG_VERSION = "2025-09-06";
const MAX_EVENTS = 10_000;

export type AuditPage = { ok: true; page: { events: AuditEvent[]; page_token: string | null } } | { ok: false; message: string };

export class AuditLog {
  readonly events: AuditEvent[] = [];
  readonly #at: number[] = [];
  /** Events dropped from the front (a long `kiln emulate` session), so page tokens stay valid. */
  #dropped = 0;

  constructor(
    private readonly now: () => number,
    private readonly userId: string,
  ) {}

  record(resource: string, action: string, id: string, details: Record<string, unknown> = {}): void {
    const t = this.now();
    this.events.push({
      service_name: "cloud",
      resource_name: resource,
      action,
      catalog_version: CATALOG_VERSION,
      event_id: randomBytes(16).toString("hex"),
      event_time: new Date(t).toISOString(),
      actor_lrn: `lrn:cloud:identity:${this.userId}`,
      resource_lrns: [`lrn:cloud:${resource}:${id}`],
      resource_owner_lrn: `lrn:cloud:account:${this.userId}`,
      request_api_key_lrn: null,
      additional_details: { [`${resource}_lrn`]: `lrn:cloud:${resource}:${id}`, ...details },
    });
    this.#at.push(t);
    if (this.events.length > MAX_EVENTS) {
      this.events.splice(0, 1_000);
      this.#at.splice(0, 1_000);
      this.#dropped += 1_000;
    }
  }

  /** One page for the query string's `start`, `end`, `resource_type` and `page_token`. */
  page(query: URLSearchParams): AuditPage {
    const time = (name: string): number | undefined | false => {
      const v = query.get(name);
      if (v === null) return undefined;
      return parseDateTime(v) ?? false;
    };
    const start = time("start");
    const end = time("end");
    if (start === false || end === false) return { ok: false, message: "start and end must be ISO 8601 date-times." };
    let from = 0;
    const token = query.get("page_token");
    if (token !== null) {
      // Tokens are what this log handed out: a base64url position, nothing else.
      const n = /^[A-Za-z0-9_-]+$/.test(token) ? Number(Buffer.from(token, "base64url").toString("utf8")) : Number.NaN;
      if (!Number.isSafeInteger(n) || n < this.#dropped || n > this.#dropped + this.events.length) return { ok: false, message: "Invalid page token." };
      from = n - this.#dropped;
    }
    const type = query.get("resource_type");
    const events: AuditEvent[] = [];
    let n = from;
    for (; n < this.events.length && events.length < PAGE_SIZE; n++) {
      const e = this.events[n]!;
      const t = this.#at[n]!;
      if ((start !== undefined && t < start) || (end !== undefined && t > end)) continue;
      if (type !== null && `${e.service_name}.${e.resource_name}` !== type) continue;
      events.push(e);
    }
    const more = n < this.events.length;
    return { ok: true, page: { events, page_token: more ? Buffer.from(String(n + this.#dropped)).toString("base64url") : null } };
  }
}

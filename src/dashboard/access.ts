/**
 * Who may use the dashboard, and proof that an action was confirmed.
 *
 * - On loopback (the default) any local process may read it, as it may read ~/.kiln itself; the Host
 *   header must name the loopback address, so a web page that rebinds its own name to 127.0.0.1 (DNS
 *   rebinding) gets nothing.
 * - Bound anywhere else, every request must carry the server's one-time token: `Authorization: Bearer`,
 *   `?token=` (the URL the CLI prints, traded for an HttpOnly cookie on first use) or that cookie.
 * - Every POST (stop, down, resume) must carry a confirm token, issued by the confirm page for that one
 *   action on that one job and valid for 10 minutes: an HMAC under a per-server secret, so a form
 *   posted from another site, or a replayed request for another job, is refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";

export const COOKIE = "kiln_dashboard";
const CONFIRM_TTL_MS = 10 * 60_000;

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1";
}

export const newToken = (): string => randomBytes(24).toString("base64url");

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export interface RequestCredentials {
  authorization: string | undefined;
  cookie: string | undefined;
  queryToken: string | null;
}

/** Whether a request carries `token` in any of the three places. */
export function carriesToken(c: RequestCredentials, token: string): boolean {
  const bearer = /^Bearer\s+(\S+)$/i.exec(c.authorization ?? "")?.[1];
  return [bearer, cookieValue(c.cookie, COOKIE), c.queryToken ?? undefined].some((t) => t !== undefined && same(t, token));
}

/** Host headers a loopback server answers to: its own address and port, by IP or as localhost. */
export function loopbackHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}

/** Confirm tokens: one action on one job, for ten minutes. */
export class Confirmations {
  private readonly secret = randomBytes(32);

  constructor(private readonly now: () => number = Date.now) {}

  issue(action: string, jobId: string): string {
    const until = this.now() + CONFIRM_TTL_MS;
    return `${until}.${this.mac(action, jobId, until)}`;
  }

  check(token: string | undefined, action: string, jobId: string): boolean {
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token ?? "");
    if (!m) return false;
    const until = Number(m[1]);
    return until >= this.now() && same(m[2]!, this.mac(action, jobId, until));
  }

  private mac(action: string, jobId: string, until: number): string {
    return createHmac("sha256", this.secret).update(`${action}\n${jobId}\n${until}`).digest("base64url");
  }
}

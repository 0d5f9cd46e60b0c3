/**
 * The Thunder account Kiln uses: the user's token against the real API, or an emulator on loopback when
 * `KILN_THUNDER_API_URL` points there (tests, `kiln emulate thunder`): client pacing off, quick backoff, the
 * local user as the SSH user (the emulator's machines are loopback sshd's), and an optional short request
 * timeout (`KILN_THUNDER_TIMEOUT_MS`) so tests that make it hang need not wait the real API's.
 */
import { userInfo } from "node:os";
import type { ConfiguredCloud, ProviderContext } from "../descriptor.js";
import { THUNDER_API_URL } from "./client.js";
import { loadThunderCredentials } from "./credentials.js";
import { thunderEndBilling } from "./end-billing.js";
import { createThunderProvider } from "./index.js";

/** Thunder documents no listing lag; a minute covers a slow control plane (the lifecycle may override it). */
export const THUNDER_LISTING_LAG_MS = 60_000;

export const isLoopback = (url: string): boolean => {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
};

export async function configuredThunder(ctx: ProviderContext): Promise<ConfiguredCloud | undefined> {
  const creds = await loadThunderCredentials({ env: ctx.env, credentialsPath: ctx.credentialsPath });
  if (!creds) return undefined;
  const token = creds.apiKey.reveal();
  const baseUrl = ctx.env["KILN_THUNDER_API_URL"] || undefined;
  const listingLagMs = Number(ctx.env["KILN_LISTING_LAG_MS"] ?? "") || THUNDER_LISTING_LAG_MS;
  const log = ctx.logger.child("thunder");
  if (baseUrl === undefined || !isLoopback(baseUrl)) {
    const provider = createThunderProvider({ token, baseUrl, log, listingLagMs });
    return { provider, source: creds.source, emulated: false, endBilling: thunderEndBilling(baseUrl ?? THUNDER_API_URL, token) };
  }
  const timeout = Number(ctx.env["KILN_THUNDER_TIMEOUT_MS"] ?? "");
  const provider = createThunderProvider({
    token,
    baseUrl,
    log,
    listingLagMs,
    minIntervalMs: 0,
    backoffBaseMs: 50,
    backoffMaxMs: 1_000,
    ...(timeout > 0 && { requestTimeoutMs: timeout }),
    sshUser: ctx.env["KILN_THUNDER_SSH_USER"] || userInfo().username,
  });
  return { provider, source: creds.source, emulated: true, endBilling: thunderEndBilling(baseUrl, token) };
}

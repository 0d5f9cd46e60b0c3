/**
 * Credentials for ARM: DefaultAzureCredential for a real subscription (a user who ran `az login` needs
 * nothing else; a service principal's AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a managed
 * identity and the rest of its chain work too), or a static token for an emulator. Loaded on use:
 * @azure/identity is heavy and `kiln` start-up time matters.
 */
import type { AccessToken, TokenCredential } from "@azure/core-auth";

export const ARM_SCOPE = "https://management.azure.com/.default";

/** A TokenCredential that always answers `token` (emulators: they check it as a bearer token). */
export const staticToken = (token: string): TokenCredential => ({
  getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }),
});

export async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import("@azure/identity");
  return new DefaultAzureCredential();
}

/**
 * Who a token belongs to, read from its JWT claims (no call): a user's `upn`/`unique_name`, else an app's
 * `appid`, with the object id. Undefined for an opaque token (emulators).
 */
export function principalOf(token: string): string | undefined {
  const [, payload] = token.split(".");
  if (!payload) return undefined;
  try {
    const c = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    const who = [c["upn"], c["unique_name"], c["email"], c["appid"] && `app ${String(c["appid"])}`].find((x) => typeof x === "string" && x.length > 0);
    const oid = typeof c["oid"] === "string" ? ` (object id ${c["oid"]})` : "";
    return typeof who === "string" ? `${who}${oid}` : oid ? `principal${oid}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A service SAS for one Azure Blob container, signed with the storage account key (HMAC-SHA256 over the
 * string-to-sign of SAS version 2020-12-06), so the machine gets a token that reaches that container only,
 * with only the rights the push needs, until a fixed time, and never the account key. No SDK: the signing
 * is a dozen lines, and Azurite (Microsoft's emulator, which checks SAS signatures) tests it.
 *
 * @example
 *   containerSas({ account: "acct", container: "kiln", accountKey, permissions: "rcw", expiresAtMs: Date.now() + 3_600_000, httpsOnly: true });
 *   // "sv=2020-12-06&sr=c&sp=rcw&se=2026-12-05T01%3A00%3A00Z&spr=https&sig=…"
 */
import { createHmac } from "node:crypto";

export const SAS_VERSION = "2020-12-06";

export function containerSas(o: { account: string; container: string; accountKey: string; permissions: string; expiresAtMs: number; httpsOnly: boolean }): string {
  // Second precision, as the service compares it.
  const se = new Date(Math.floor(o.expiresAtMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const spr = o.httpsOnly ? "https" : "https,http";
  const fields = [
    o.permissions, // sp
    "", // st: valid from now
    se,
    `/blob/${o.account}/${o.container}`, // canonicalized resource
    "", // si: no stored access policy
    "", // sip
    spr,
    SAS_VERSION,
    "c", // sr: the container
    "", // signed snapshot time
    "", // signed encryption scope
    "", // rscc
    "", // rscd
    "", // rsce
    "", // rscl
    "", // rsct
  ];
  const sig = createHmac("sha256", Buffer.from(o.accountKey, "base64")).update(fields.join("\n"), "utf8").digest("base64");
  return new URLSearchParams({ sv: SAS_VERSION, sr: "c", sp: o.permissions, se, spr, sig }).toString();
}

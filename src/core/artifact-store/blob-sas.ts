/**
 * Service SASes for Azure Blob, signed with the storage account key (HMAC-SHA256 over the string-to-sign of
 * SAS version 2020-12-06), so the machine gets a token that reaches only what it names, with only the rights
 * the push needs, until a fixed time, and never the account key: one for a container (sr=c, this computer's
 * read-only token for verify and fetch), or one for a single named blob (sr=b, each of the machine's two
 * objects in the archive layout, ./location.ts). No SDK: the signing is a dozen lines, and Azurite
 * (Microsoft's emulator, which checks SAS signatures) tests it.
 *
 * @example
 *   containerSas({ account: "acct", container: "kiln", accountKey, permissions: "r", expiresAtMs: Date.now() + 900_000, httpsOnly: true });
 *   // "sv=2020-12-06&sr=c&sp=r&se=2026-12-05T01%3A00%3A00Z&spr=https&sig=…"
 *   blobSas({ account: "acct", container: "kiln", blob: "runs/j-1/outputs.tar", accountKey, permissions: "rcw", expiresAtMs, httpsOnly: true });
 */
import { createHmac } from "node:crypto";

export const SAS_VERSION = "2020-12-06";

interface SasRequest {
  account: string;
  container: string;
  accountKey: string;
  permissions: string;
  expiresAtMs: number;
  httpsOnly: boolean;
}

export function containerSas(o: SasRequest): string {
  return serviceSas(o, "c", `/blob/${o.account}/${o.container}`);
}

/** A SAS for the one blob named (its full name in the container, slashes and all, unencoded). */
export function blobSas(o: SasRequest & { blob: string }): string {
  return serviceSas(o, "b", `/blob/${o.account}/${o.container}/${o.blob}`);
}

function serviceSas(o: SasRequest, sr: "b" | "c", canonicalResource: string): string {
  // Second precision, as the service compares it.
  const se = new Date(Math.floor(o.expiresAtMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const spr = o.httpsOnly ? "https" : "https,http";
  const fields = [
    o.permissions, // sp
    "", // st: valid from now
    se,
    canonicalResource,
    "", // si: no stored access policy
    "", // sip
    spr,
    SAS_VERSION,
    sr,
    "", // signed snapshot time
    "", // signed encryption scope
    "", // rscc
    "", // rscd
    "", // rsce
    "", // rscl
    "", // rsct
  ];
  const sig = createHmac("sha256", Buffer.from(o.accountKey, "base64")).update(fields.join("\n"), "utf8").digest("base64");
  return new URLSearchParams({ sv: SAS_VERSION, sr, sp: o.permissions, se, spr, sig }).toString();
}

import { createHash } from "node:crypto";

/**
 * The name Kiln's key is registered under: one per key, so two computers (or two KILN_HOMEs) sharing
 * a cloud account never collide on a name that holds a different key.
 */
export const sshKeyNameFor = (publicKey: string): string => `kiln-${createHash("sha256").update(publicKey.trim().split(/\s+/).slice(0, 2).join(" ")).digest("hex").slice(0, 12)}`;

/**
 * How Kiln recognises its own Thunder instances without a name. Thunder's create takes no name, label or tag
 * (spec `InstanceCreateRequest`; `InstanceModifyRequest` has none either), and the listing's `name` is
 * Thunder's own generated word. What create does take is `public_key`, and the listing echoes
 * `sshPublicKeys[]`. So Kiln sends the job's public key with the comment `kiln-<intentId>`: the comment is the
 * marker (ledger-independent, like a name), and the key material — Kiln's per-job key, which no machine the
 * user made by hand carries — is the second, comment-proof check.
 *
 * GUESS to verify live: that the listing echoes the key *with its comment*. If Thunder strips comments,
 * listMachines cannot name instances from the listing alone; the launch path still resolves its own lost
 * answers by key material plus a listing diff (provider.ts), and that gap is in the report.
 */
import { machineNameFor } from "../provider.js";

/** `ssh-ed25519 AAAA… anything` → `ssh-ed25519 AAAA… kiln-<intentId>`. */
export function markedKey(publicKey: string, intentId: string): string {
  const [type, material] = publicKey.trim().split(/\s+/);
  return `${type ?? ""} ${material ?? ""} ${machineNameFor(intentId)}`;
}

/** The type and key material of an OpenSSH public key line, without its comment. */
export const keyMaterial = (k: string): string => k.trim().split(/\s+/).slice(0, 2).join(" ");

/** The Kiln machine name a key list carries in a key comment, or undefined. */
export function markerOf(keys: readonly string[] | null | undefined): string | undefined {
  for (const k of keys ?? []) {
    const comment = k.trim().split(/\s+/).slice(2).join(" ");
    if (/^kiln-[0-9a-z-]+$/.test(comment)) return comment;
  }
  return undefined;
}

/**
 * Kiln's own OpenSSH client config (`$KILN_HOME/ssh_config`): one `Host kiln-<job>` block per machine,
 * so `ssh -F ~/.kiln/ssh_config kiln-<job>` (or plain `ssh kiln-<job>` once included) reaches it with
 * the same key and the same host-key pin Kiln uses — `StrictHostKeyChecking yes` against Kiln's
 * known_hosts, under the pin's alias — never trust-anything.
 *
 * The user's ~/.ssh/config is touched only by {@link installInclude}, which `kiln ssh` calls only with
 * `--install-ssh-config`. Both files are rewritten atomically.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { MachineAccess } from "./access.js";

const BEGIN = (alias: string) => `# >>> kiln ${alias} (managed by kiln; edits are overwritten)`;
const END = (alias: string) => `# <<< kiln ${alias}`;

// OpenSSH config values: quote when they contain spaces; our aliases/hosts are validated elsewhere.
const v = (s: string) => (/[\s"]/.test(s) ? `"${s.replace(/"/g, "")}"` : s);

export function hostBlock(access: MachineAccess, knownHostsFile: string): string {
  return [
    BEGIN(access.hostAlias),
    `Host ${access.hostAlias}`,
    `  HostName ${v(access.host)}`,
    `  Port ${access.port}`,
    `  User ${v(access.user)}`,
    `  IdentityFile ${v(access.keyPath)}`,
    "  IdentitiesOnly yes",
    `  HostKeyAlias ${v(access.hostKeyAlias)}`,
    `  UserKnownHostsFile ${v(knownHostsFile)}`,
    "  StrictHostKeyChecking yes",
    "  ServerAliveInterval 15",
    END(access.hostAlias),
    "",
  ].join("\n");
}

function writeAtomic(path: string, text: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(`${path}.tmp`, text, { mode });
  renameSync(`${path}.tmp`, path);
}

function withoutBlock(text: string, alias: string): string {
  const lines = text.split("\n");
  const start = lines.indexOf(BEGIN(alias));
  const end = lines.indexOf(END(alias));
  if (start < 0 || end < start) return text;
  lines.splice(start, end - start + 1);
  return lines.join("\n").replace(/^\n+/, "");
}

/** Add or replace the machine's block in Kiln's ssh config. */
export function writeHostBlock(configFile: string, access: MachineAccess, knownHostsFile: string): void {
  const old = existsSync(configFile) ? readFileSync(configFile, "utf8") : "";
  writeAtomic(configFile, withoutBlock(old, access.hostAlias) + hostBlock(access, knownHostsFile), 0o600);
}

/** Remove a machine's block (after teardown). Returns whether there was one. */
export function removeHostBlock(configFile: string, hostAlias: string): boolean {
  if (!existsSync(configFile)) return false;
  const old = readFileSync(configFile, "utf8");
  const next = withoutBlock(old, hostAlias);
  if (next === old) return false;
  writeAtomic(configFile, next, 0o600);
  return true;
}

/**
 * Make ~/.ssh/config include Kiln's config. The `Include` goes first: OpenSSH applies an Include that
 * follows a `Host` line only inside that host's block. Idempotent; returns whether it changed the file.
 */
export function installInclude(userConfig: string, kilnConfig: string): boolean {
  const line = `Include ${v(kilnConfig)}`;
  const old = existsSync(userConfig) ? readFileSync(userConfig, "utf8") : "";
  if (old.split("\n").some((l) => l.trim() === line)) return false;
  writeAtomic(userConfig, `# Added by \`kiln ssh --install-ssh-config\`: Kiln's machines as \`ssh kiln-<job>\`.\n${line}\n\n${old}`, 0o600);
  return true;
}

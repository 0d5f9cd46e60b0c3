/**
 * Dialling a machine: one SSH handshake with host-key pinning ({@link connectOnce}) and the retry loop
 * around it ({@link connectWithRetry}) that waits out a machine that is still booting. Used by
 * {@link SshConnection} for the first connection and for every reconnect.
 */
// ssh2 is CommonJS: Node's ESM loader sees only its default export, not named ones.
import ssh2 from "ssh2";
import type { Client } from "ssh2";
import { AbortedError, DeadlineError, KilnError, UserError } from "../../base/errors.js";
import { sleep } from "../../base/deadline.js";
import { type Logger, nullLogger } from "../../base/logger.js";
import { fingerprint, type KnownHosts } from "./known-hosts.js";
import { backoffMs, isAuthFailure, isRetryableConnectError } from "./retry.js";

const { utils } = ssh2;
const SshClient = ssh2.Client;

export interface SshTarget {
  host: string;
  port?: number;
  user: string;
  /** Private key contents (OpenSSH or PEM). */
  privateKey: Buffer | string;
  passphrase?: string;
  /** Pin alias in Kiln's known_hosts: the provider's machine id when known, else `[host]:port`. */
  hostKeyAlias?: string;
}

export interface ConnectOptions {
  knownHosts: KnownHosts;
  /** Deadline for the first connection, retries included (a fresh cloud machine can take minutes). */
  timeoutMs?: number;
  /** Deadline for reconnecting after a drop, before a command gives up. */
  reconnectTimeoutMs?: number;
  /** Handshake deadline of one attempt. */
  attemptTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  logger?: Logger;
  signal?: AbortSignal;
}

export function parseKeyOrThrow(target: SshTarget): void {
  const parsed = utils.parseKey(target.privateKey, target.passphrase);
  if (parsed instanceof Error) {
    throw new UserError(`cannot use the SSH private key for ${target.user}@${target.host}: ${parsed.message}`, {
      cause: parsed,
      hint: "point resources.key at an unencrypted OpenSSH/PEM private key, or run `kiln keys` to create Kiln's own",
    });
  }
}

/** One connection attempt: resolves with a ready client, or rejects with the ssh2 error / a pin error. */
export function connectOnce(target: SshTarget, opts: ConnectOptions, alias: string, signal?: AbortSignal): Promise<Client> {
  const client = new SshClient();
  let pinError: KilnError | undefined;
  return new Promise<Client>((resolve, reject) => {
    const onAbort = () => {
      client.destroy();
      reject(new AbortedError(`SSH connection to ${target.host}`, { cause: signal?.reason }));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    client.once("ready", () => {
      done();
      resolve(client);
    });
    client.once("error", (err) => {
      done();
      client.destroy();
      reject(pinError ?? err);
    });
    client.connect({
      host: target.host,
      port: target.port ?? 22,
      username: target.user,
      privateKey: target.privateKey,
      ...(target.passphrase === undefined ? {} : { passphrase: target.passphrase }),
      readyTimeout: opts.attemptTimeoutMs ?? 20_000,
      keepaliveInterval: opts.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer) => {
        try {
          const verdict = opts.knownHosts.verify(alias, key);
          if (verdict === "pinned-now") opts.logger?.info(`pinned the host key of ${alias}: ${fingerprint(key)} (trust on first use)`);
          return true;
        } catch (e) {
          pinError = e instanceof KilnError ? e : new KilnError("host-key-check-failed", String(e), { cause: e });
          return false;
        }
      },
    });
  });
}

/** Connect with retries and backoff until `timeoutMs`; non-retryable errors are thrown at once. */
export async function connectWithRetry(target: SshTarget, opts: ConnectOptions, alias: string, timeoutMs: number): Promise<Client> {
  const logger = opts.logger ?? nullLogger;
  const deadline = Date.now() + timeoutMs;
  const where = `${target.user}@${target.host}:${target.port ?? 22}`;
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new AbortedError(`SSH connection to ${where}`, { cause: opts.signal.reason });
    try {
      return await connectOnce(target, opts, alias, opts.signal);
    } catch (e) {
      if (e instanceof KilnError) throw e;
      if (isAuthFailure(e)) {
        throw new KilnError(
          "ssh-auth-failed",
          `SSH authentication as ${where} failed: the machine does not accept Kiln's key. ` +
            "Check that the public key shown by `kiln keys` is registered with the provider (or in the host's authorized_keys) and that the user name is right.",
          { cause: e, details: { where } },
        );
      }
      if (!isRetryableConnectError(e)) {
        throw new KilnError("ssh-connect-failed", `SSH connection to ${where} failed: ${(e as Error).message}`, { cause: e, details: { where } });
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new DeadlineError(`SSH on ${where} (${attempt + 1} attempts; last: ${(e as Error).message})`, timeoutMs, { cause: e });
      const wait = Math.min(backoffMs(attempt), left);
      logger.debug(`SSH to ${where} not ready, retrying`, { attempt: attempt + 1, error: (e as Error).message, waitMs: wait });
      await sleep(wait, opts.signal);
    }
  }
}


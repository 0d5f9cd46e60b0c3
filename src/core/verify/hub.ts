/**
 * Can the job download its base model? One HEAD request for the model's config.json on the Hugging
 * Face Hub, with the token Kiln will hand the job, made from the laptop before any machine is paid for.
 * The Hub answers 401 for a gated model without a token, 403 when the token's account has not accepted
 * the licence (or a fine-grained token lacks "read access to public gated repos"), X-Error-Code
 * RepoNotFound for a typo, and a redirect to its CDN when the file is readable (not followed: nothing
 * is downloaded).
 */
import { AbortedError, errorMessage } from "../../base/errors.js";

export type HubAccess =
  | { kind: "ok" }
  | { kind: "no-token" }
  | { kind: "denied"; status: number }
  | { kind: "not-found" }
  /** The Hub could not be asked (offline, timeout, 5xx): fall back to what is known offline. */
  | { kind: "unknown"; reason: string };

export interface HubOptions {
  /** HF_TOKEN; sent only in the Authorization header. */
  token?: string;
  /** HF_ENDPOINT, default https://huggingface.co (mirrors and tests set it). */
  endpoint?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export const DEFAULT_HUB = "https://huggingface.co";

export async function checkHubAccess(model: string, opts: HubOptions = {}): Promise<HubAccess> {
  const endpoint = (opts.endpoint ?? DEFAULT_HUB).replace(/\/+$/, "");
  const url = `${endpoint}/${model.split("/").map(encodeURIComponent).join("/")}/resolve/main/config.json`;
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let status: number;
  let code: string | null;
  try {
    const res = await (opts.fetch ?? fetch)(url, {
      method: "HEAD",
      redirect: "manual",
      signal,
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    });
    status = res.status;
    code = res.headers.get("x-error-code");
  } catch (e) {
    // The user's own abort (Ctrl-C) stops the checklist; only the Hub's silence is an "unknown" answer.
    if (opts.signal?.aborted) throw new AbortedError("asking the Hugging Face Hub", { cause: opts.signal.reason });
    // The token may appear in nothing we return: the message is fetch's, about the URL, not the headers.
    return { kind: "unknown", reason: timeout.aborted ? "the Hub did not answer in time" : `the Hub is unreachable (${errorMessage(e)})` };
  }
  // The Hub names the reason in X-Error-Code; it answers 401 for a missing repo too, so look there first.
  if (code === "RepoNotFound") return { kind: "not-found" };
  if (code === "EntryNotFound") return { kind: "ok" };
  if (status >= 200 && status < 400) return { kind: "ok" };
  if (status === 401) return opts.token ? { kind: "denied", status } : { kind: "no-token" };
  if (status === 403) return { kind: "denied", status };
  if (status === 404) return { kind: "not-found" };
  return { kind: "unknown", reason: `the Hub answered HTTP ${status}` };
}

/**
 * How the SDK's REST transport authenticates, with Kiln's per-call deadline and AbortSignal added. The
 * generated clients call `auth.fetch(url, init)` for every request (google-gax's REST fallback stub) but
 * take no AbortSignal of ours and ignore their own `timeout` option there (a hung request hung for good in
 * a probe), so the fetch reads the current call's signal from an AsyncLocalStorage that {@link withSignal}
 * sets around each call.
 *
 * - {@link adcAuth}: Application Default Credentials (GoogleAuth), the user's real account.
 * - {@link staticTokenAuth}: a fixed bearer token, for the emulator: no metadata server, no token endpoint,
 *   no network.
 *
 * google-auth-library is imported here, so this module is itself loaded lazily (start-up time).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { GoogleAuth, OAuth2Client } from "google-auth-library";
import { MAX_API_RESPONSE_BYTES, boundedFetch } from "../../base/bounded-body.js";

const current = new AsyncLocalStorage<AbortSignal>();

/** Run `fn` (one SDK call) with `signal` on every request it makes. */
export const withSignal = <T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> => current.run(signal, fn);

type FetchInit = { signal?: AbortSignal | null } & Record<string, unknown>;
const joined = (init: FetchInit | undefined): FetchInit => {
  const s = current.getStore();
  if (!s) return init ?? {};
  return { ...init, signal: init?.signal ? AbortSignal.any([init.signal, s]) : s };
};

/** The project and principal ADC resolves to, for messages and `kiln check`. */
export interface GcpIdentity {
  project: string | undefined;
  principal: string;
}

class SignalledGoogleAuth extends GoogleAuth {
  override fetch<T>(...args: Parameters<GoogleAuth["fetch"]>) {
    const [url, init] = args as unknown as [string, FetchInit | undefined];
    return super.fetch<T>(...([url, joined(init)] as unknown as Parameters<GoogleAuth["fetch"]>));
  }
}

class StaticTokenClient extends OAuth2Client {
  override fetch<T>(...args: Parameters<OAuth2Client["fetch"]>) {
    const [url, init] = args as unknown as [string, FetchInit | undefined];
    return super.fetch<T>(...([url, joined(init)] as unknown as Parameters<OAuth2Client["fetch"]>));
  }
}

export type GcpAuth = GoogleAuth | OAuth2Client;

/**
 * Every answer the SDK reads — the Compute API's, the OAuth token endpoint's — comes through this fetch
 * (gaxios' `fetchImplementation`), so none is read past the shared API ceiling: a bigger one fails the
 * call with ResponseTooLarge instead of filling the heap. (On a GCE machine, ADC's metadata-server token
 * goes through gcp-metadata's own gaxios, out of reach here; that server is link-local.)
 */
const transporterOptions = { fetchImplementation: boundedFetch(MAX_API_RESPONSE_BYTES) };

export function adcAuth(o: { keyFile?: string; projectId?: string }): GoogleAuth {
  return new SignalledGoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"], clientOptions: { transporterOptions }, ...(o.keyFile && { keyFile: o.keyFile }), ...(o.projectId && { projectId: o.projectId }) });
}

export function staticTokenAuth(token: string): OAuth2Client {
  const c = new StaticTokenClient({ transporterOptions });
  // Far in the future: the client never tries to refresh (there is nothing to refresh against).
  c.setCredentials({ access_token: token, expiry_date: Date.now() + 10 * 365 * 86_400_000 });
  return c;
}

/** Who ADC says we are: a service account's email, or "user credentials (…)" for `gcloud auth application-default login`. */
export async function identityOf(auth: GoogleAuth): Promise<GcpIdentity> {
  const project = await auth.getProjectId().catch(() => undefined);
  const creds = await auth.getCredentials().catch(() => undefined);
  const principal = creds?.client_email ?? "user credentials from `gcloud auth application-default login`";
  return { project, principal };
}

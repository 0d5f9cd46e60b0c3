/**
 * The AWS SDK clients Kiln uses (EC2 per region, SSM for the AMI parameter, STS for `kiln check`), built
 * from one configuration: credentials from the SDK's standard chain (env vars, ~/.aws/config and
 * credentials, a profile, SSO, an instance role) unless given, an optional endpoint (moto, tests), a
 * per-request timeout and the SDK's adaptive retry (backoff with jitter on throttling and 5xx, a client-side
 * token bucket after a RequestLimitExceeded). Every call goes through {@link AwsClient.call}: it honours the
 * AbortSignal and turns any failure into a classified ProviderError (./errors.ts).
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { SSMClient } from "@aws-sdk/client-ssm";
import { STSClient } from "@aws-sdk/client-sts";
import { MAX_API_RESPONSE_BYTES } from "../../base/bounded-body.js";
import { boundSdkResponses } from "../../base/bounded-sdk.js";
import type { ProviderError } from "../provider.js";
import { isAbort, toProviderError } from "./errors.js";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsClientOptions {
  /** Explicit credentials; absent: the SDK's standard chain (env, shared files, profile, SSO, instance role). */
  credentials?: AwsCredentials;
  /** A named profile of ~/.aws/config (AWS_PROFILE works too, through the chain). */
  profile?: string;
  /** Another endpoint for every service (moto on loopback); absent: AWS's regional endpoints. */
  endpoint?: string;
  /** Attempts per call, the first included (SDK adaptive retry). Default 4. */
  maxAttempts?: number;
  /** Per-request timeout. Default 20 s. */
  requestTimeoutMs?: number;
}

export class AwsClient {
  readonly #ec2 = new Map<string, EC2Client>();
  readonly #ssm = new Map<string, SSMClient>();
  #sts: STSClient | undefined;
  constructor(readonly o: AwsClientOptions = {}) {}

  #common(region: string) {
    return {
      region,
      maxAttempts: this.o.maxAttempts ?? 4,
      retryMode: "adaptive",
      requestHandler: { requestTimeout: this.o.requestTimeoutMs ?? 20_000, connectionTimeout: Math.min(this.o.requestTimeoutMs ?? 20_000, 10_000) },
      ...(this.o.credentials && { credentials: this.o.credentials }),
      ...(this.o.profile && { profile: this.o.profile }),
      ...(this.o.endpoint && { endpoint: this.o.endpoint }),
    };
  }

  ec2(region: string): EC2Client {
    let c = this.#ec2.get(region);
    if (!c) {
      c = new EC2Client(this.#common(region));
      // Every answer read bounded (a DescribeInstances page is far below it): ../../base/bounded-sdk.ts.
      boundSdkResponses(c.middlewareStack, MAX_API_RESPONSE_BYTES);
      this.#ec2.set(region, c);
    }
    return c;
  }

  ssm(region: string): SSMClient {
    let c = this.#ssm.get(region);
    if (!c) {
      c = new SSMClient(this.#common(region));
      boundSdkResponses(c.middlewareStack, MAX_API_RESPONSE_BYTES);
      this.#ssm.set(region, c);
    }
    return c;
  }

  sts(region: string): STSClient {
    if (!this.#sts) {
      this.#sts = new STSClient(this.#common(region));
      boundSdkResponses(this.#sts.middlewareStack, MAX_API_RESPONSE_BYTES);
    }
    return this.#sts;
  }

  /**
   * Run one SDK call with the caller's signal; failures become ProviderErrors (an abort is rethrown as is).
   * `region` is for messages and the quota page.
   */
  async call<T>(operation: string, region: string, signal: AbortSignal, f: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    signal.throwIfAborted();
    try {
      return await f(signal);
    } catch (e) {
      if (isAbort(e, signal)) throw signal.reason ?? e;
      throw toProviderError(e, operation, region);
    }
  }

  /** Like {@link call}, but hands the classified error to `onError` (which may return a value instead). */
  async callOr<T>(operation: string, region: string, signal: AbortSignal, f: (abortSignal: AbortSignal) => Promise<T>, onError: (e: ProviderError) => T): Promise<T> {
    try {
      return await this.call(operation, region, signal, f);
    } catch (e) {
      if (signal.aborted || !(e instanceof Error) || e.name !== "ProviderError") throw e;
      return onError(e as ProviderError);
    }
  }

  destroy(): void {
    for (const c of this.#ec2.values()) c.destroy();
    for (const c of this.#ssm.values()) c.destroy();
    this.#sts?.destroy();
    this.#ec2.clear();
    this.#ssm.clear();
    this.#sts = undefined;
  }
}

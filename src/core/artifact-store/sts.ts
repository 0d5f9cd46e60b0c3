/**
 * STS AssumeRole with a session policy for one job's prefix (see ./credentials.ts). Loaded on use: the
 * AWS SDK is not needed to start the CLI.
 */
import { AssumeRoleCommand, STSClient, STSServiceException } from "@aws-sdk/client-sts";
import { z } from "zod";
import { MAX_API_RESPONSE_BYTES, refusedBody, responseTooLargeIn } from "../../base/bounded-body.js";
import { boundSdkResponses } from "../../base/bounded-sdk.js";
import { KilnError, UserError } from "../../base/errors.js";
import { Secret } from "../../providers/credentials.js";
import { MAX_SESSION_S, MIN_SESSION_S, type S3Credentials, jobSessionPolicy } from "./credentials.js";
import type { S3Location } from "./location.js";

const AssumedCredentials = z.object({
  AccessKeyId: z.string().min(1),
  SecretAccessKey: z.string().min(1),
  SessionToken: z.string().min(1),
  Expiration: z.date(),
});

export async function assumeJobRole(o: { location: S3Location; roleArn: string; base: S3Credentials; validForS: number; sessionName: string; signal?: AbortSignal }): Promise<S3Credentials> {
  const sts = new STSClient({
    region: o.location.region,
    // A custom S3 endpoint (MinIO, moto) serves STS at the same origin; AWS's is regional.
    ...(o.location.addressing === "path" && !o.location.endpoint.endsWith("amazonaws.com") && { endpoint: o.location.endpoint }),
    credentials: { accessKeyId: o.base.accessKeyId, secretAccessKey: o.base.secretAccessKey.reveal(), ...(o.base.sessionToken && { sessionToken: o.base.sessionToken.reveal() }) },
    maxAttempts: 3,
  });
  // Credentials are a few KiB: an answer past the API ceiling is not STS's (src/base/bounded-sdk.ts).
  boundSdkResponses(sts.middlewareStack, MAX_API_RESPONSE_BYTES);
  const duration = Math.min(MAX_SESSION_S, Math.max(MIN_SESSION_S, Math.ceil(o.validForS)));
  try {
    const r = await sts.send(
      new AssumeRoleCommand({ RoleArn: o.roleArn, RoleSessionName: o.sessionName.slice(0, 64), DurationSeconds: duration, Policy: jobSessionPolicy(o.location) }),
      { abortSignal: AbortSignal.any([...(o.signal ? [o.signal] : []), AbortSignal.timeout(60_000)]) },
    );
    const c = AssumedCredentials.safeParse(r.Credentials);
    if (!c.success) throw new KilnError("store-sts-unparsable", `STS AssumeRole answered without usable credentials: ${c.error.message}`);
    return {
      kind: "s3",
      accessKeyId: c.data.AccessKeyId,
      secretAccessKey: new Secret(c.data.SecretAccessKey),
      sessionToken: new Secret(c.data.SessionToken),
      expiresAtMs: c.data.Expiration.getTime(),
      scope: "session-policy",
    };
  } catch (e) {
    if (e instanceof STSServiceException && (e.name === "AccessDenied" || e.name === "InvalidClientTokenId" || e.name === "SignatureDoesNotMatch" || e.name === "ValidationError")) {
      throw new UserError(`artifacts.store.role_arn: STS refused to let the store key assume ${o.roleArn} (${e.name}: ${e.message})`, {
        cause: e,
        hint: "check that the role's trust policy allows the key named by artifacts.store.access_key_id_env, and that its MaxSessionDuration covers the run",
      });
    }
    const big = responseTooLargeIn(e);
    if (big) {
      throw new UserError(`artifacts.store.role_arn: ${refusedBody(`STS AssumeRole at ${o.location.endpoint}`, big)}`, {
        cause: e,
        hint: "that is not STS answering: check artifacts.store's endpoint_url and any proxy in between (HTTPS_PROXY), then run the command again",
      });
    }
    throw e;
  } finally {
    sts.destroy();
  }
}

/**
 * Where Kiln's AWS credentials come from, in this order (the SDK's standard chain, made explicit so that
 * `kiln check` can say which one it used and the environment Kiln was given is the one read):
 * 1. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
 * 2. the `aws` section of Kiln's 0600 credentials file (`access_key_id`, `secret_access_key`,
 *    `session_token`?, or `profile`; `region`/`regions` too);
 * 3. `AWS_PROFILE`, or the default profile of ~/.aws/credentials and ~/.aws/config (SSO, roles, processes:
 *    whatever the SDK's chain resolves there).
 * Regions: `KILN_AWS_REGIONS` (comma-separated), the file's `regions`/`region`, `AWS_REGION`,
 * `AWS_DEFAULT_REGION`, else us-east-1.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { credentialsSection, Secret } from "../credentials.js";

export const AWS_KEYS_PAGE = "https://console.aws.amazon.com/iam/home#/security_credentials";
export const AWS_FILE_EXAMPLE = '{"aws": {"access_key_id": "AKIA…", "secret_access_key": "…", "region": "us-east-1"}} or {"aws": {"profile": "kiln"}}';
export const AWS_ENV_VARS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"] as const;

const Region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "an AWS region such as us-east-1");
const Section = z
  .strictObject({
    access_key_id: z.string().min(16).optional(),
    secret_access_key: z.string().min(1).optional(),
    session_token: z.string().min(1).optional(),
    profile: z.string().min(1).optional(),
    region: Region.optional(),
    regions: z.array(Region).min(1).optional(),
  })
  .refine((s) => (s.access_key_id === undefined) === (s.secret_access_key === undefined), { message: "access_key_id and secret_access_key go together" })
  .refine((s) => s.access_key_id !== undefined || s.profile !== undefined, { message: "give access_key_id + secret_access_key, or profile" });

export interface AwsCredentialSource {
  /** Explicit keys (env or Kiln's file); absent: the SDK's chain with `profile`. */
  keys?: { accessKeyId: Secret; secretAccessKey: Secret; sessionToken?: Secret };
  profile?: string;
  regions: string[];
  /** For messages: the env vars, the file path, or the profile. */
  source: string;
}

const sharedFiles = (env: NodeJS.ProcessEnv): string[] => {
  const home = env["HOME"] || homedir();
  return [env["AWS_SHARED_CREDENTIALS_FILE"] || join(home, ".aws", "credentials"), env["AWS_CONFIG_FILE"] || join(home, ".aws", "config")];
};

/** Whether any AWS credential is configured, without reading secrets (start-up time). */
export function hasAwsCredentials(env: NodeJS.ProcessEnv, credentialsPath: string): boolean {
  return Boolean(env["AWS_ACCESS_KEY_ID"]?.trim()) || Boolean(env["AWS_PROFILE"]?.trim()) || sharedFiles(env).some(existsSync) || existsSync(credentialsPath);
}

export async function loadAwsCredentials(o: { env: NodeJS.ProcessEnv; credentialsPath: string }): Promise<AwsCredentialSource | undefined> {
  const { env } = o;
  const file = await credentialsSection(o.credentialsPath, "aws", Section, AWS_FILE_EXAMPLE);
  const regionsFromEnv = env["KILN_AWS_REGIONS"]?.split(",").map((r) => r.trim()).filter(Boolean);
  const regions = regionsFromEnv?.length ? regionsFromEnv : (file?.regions ?? [file?.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1"]);
  const id = env["AWS_ACCESS_KEY_ID"]?.trim();
  const secret = env["AWS_SECRET_ACCESS_KEY"]?.trim();
  if (id && secret) {
    const token = env["AWS_SESSION_TOKEN"]?.trim();
    return { keys: { accessKeyId: new Secret(id), secretAccessKey: new Secret(secret), ...(token && { sessionToken: new Secret(token) }) }, regions, source: "AWS_ACCESS_KEY_ID" };
  }
  if (file?.access_key_id && file.secret_access_key) {
    return {
      keys: { accessKeyId: new Secret(file.access_key_id), secretAccessKey: new Secret(file.secret_access_key), ...(file.session_token && { sessionToken: new Secret(file.session_token) }) },
      regions,
      source: o.credentialsPath,
    };
  }
  const profile = file?.profile ?? env["AWS_PROFILE"]?.trim();
  if (profile) return { profile, regions, source: `AWS profile ${profile}` };
  if (sharedFiles(env).some(existsSync)) return { regions, source: "the default AWS profile (~/.aws)" };
  return undefined;
}

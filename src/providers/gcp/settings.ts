/**
 * Where Kiln's GCE account comes from. Google's own mechanism first: Application Default Credentials (a
 * user who ran `gcloud auth application-default login` needs nothing else; or GOOGLE_APPLICATION_CREDENTIALS
 * naming a service-account key). The project: the `gcp` section of Kiln's credentials file, else
 * GOOGLE_CLOUD_PROJECT (or GCLOUD_PROJECT / CLOUDSDK_CORE_PROJECT), else whatever ADC knows (the key
 * file's project, gcloud's configured one). Kiln never copies a Google credential: the file section only
 * names a key file, never holds one.
 *
 * Emulation: KILN_GCP_API_URL on loopback plus KILN_GCP_TOKEN (the emulator's static bearer token).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { credentialsSection } from "../credentials.js";

export const GCP_FILE_EXAMPLE = '{"gcp": {"project": "my-project", "credentials_file": "/path/to/service-account.json", "zones": ["us-central1-a"]}}';
export const GCP_CREDENTIALS_PAGE = "https://cloud.google.com/docs/authentication/provide-credentials-adc";
export const GCP_ENV_VARS = ["GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "KILN_GCP_ZONES", "KILN_GCP_IMAGE"] as const;

const Section = z.strictObject({
  project: z.string().min(1).optional(),
  /** A service-account key file (JSON); absent: ADC as gcloud set it up. */
  credentials_file: z.string().min(1).optional(),
  zones: z.array(z.string().min(1)).min(1).optional(),
  image: z.string().min(1).optional(),
});
export type GcpSection = z.infer<typeof Section>;

export interface GcpSettings {
  project: string | undefined;
  keyFile: string | undefined;
  zones: string[] | undefined;
  image: string | undefined;
  /** Where the credentials come from, for messages. */
  source: string;
}

/** gcloud's ADC file (Linux/macOS; Windows keeps it under %APPDATA%\gcloud). */
export const adcFile = (env: NodeJS.ProcessEnv): string => join(env["CLOUDSDK_CONFIG"] || (env["APPDATA"] ? join(env["APPDATA"], "gcloud") : join(env["HOME"] || homedir(), ".config", "gcloud")), "application_default_credentials.json");

const envProject = (env: NodeJS.ProcessEnv) => env["GOOGLE_CLOUD_PROJECT"]?.trim() || env["GCLOUD_PROJECT"]?.trim() || env["CLOUDSDK_CORE_PROJECT"]?.trim() || undefined;

/** Cheap: whether anything says GCE is configured (no SDK loaded, no network). */
export function gcpHasCredentials(env: NodeJS.ProcessEnv, credentialsPath: string): boolean {
  return Boolean(env["KILN_GCP_API_URL"]?.trim() || env["GOOGLE_APPLICATION_CREDENTIALS"]?.trim() || existsSync(adcFile(env)) || existsSync(credentialsPath));
}

/** The settings, or undefined when no credential is found anywhere (not configured). */
export async function loadGcpSettings(env: NodeJS.ProcessEnv, credentialsPath: string): Promise<GcpSettings | undefined> {
  const section = await credentialsSection(credentialsPath, "gcp", Section, GCP_FILE_EXAMPLE);
  const keyFile = section?.credentials_file ?? (env["GOOGLE_APPLICATION_CREDENTIALS"]?.trim() || undefined);
  const zones = section?.zones ?? env["KILN_GCP_ZONES"]?.split(",").map((z) => z.trim()).filter(Boolean);
  const common = { project: section?.project ?? envProject(env), zones: zones?.length ? zones : undefined, image: section?.image ?? (env["KILN_GCP_IMAGE"]?.trim() || undefined) };
  if (keyFile) return { ...common, keyFile, source: section?.credentials_file ? `${credentialsPath} (gcp.credentials_file)` : "GOOGLE_APPLICATION_CREDENTIALS" };
  if (existsSync(adcFile(env))) return { ...common, keyFile: undefined, source: adcFile(env) };
  // A section without a key file, on a machine with no ADC file: ADC may still come from the metadata
  // server (Kiln running on GCE itself); GoogleAuth finds out, or says it found nothing.
  if (section) return { ...common, keyFile: undefined, source: `Application Default Credentials (${credentialsPath} has a gcp section)` };
  return undefined;
}

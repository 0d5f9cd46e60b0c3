/**
 * Where Kiln finds an Azure subscription: AZURE_SUBSCRIPTION_ID, or the `azure` section of Kiln's
 * credentials file (`{"azure": {"subscription_id": "…", "regions": ["eastus"]}}`). The identity itself
 * comes from DefaultAzureCredential (`az login`, a service principal's AZURE_TENANT_ID / AZURE_CLIENT_ID /
 * AZURE_CLIENT_SECRET, a managed identity), never from Kiln's file. Cheap: no SDK is loaded here.
 */
import { existsSync } from "node:fs";
import { z } from "zod";
import { credentialsSection } from "../credentials.js";

export const AZURE_ENV_VARS = ["AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"] as const;
export const AZURE_FILE_EXAMPLE = '{"azure": {"subscription_id": "00000000-0000-0000-0000-000000000000", "regions": ["eastus"]}}';
export const AZURE_CREDENTIALS_PAGE = "https://learn.microsoft.com/cli/azure/authenticate-azure-cli (run `az login`), or a service principal: https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps";

const Section = z.strictObject({ subscription_id: z.string().regex(/^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/, "a subscription id (GUID)"), regions: z.array(z.string().regex(/^[a-z0-9]+$/)).min(1).optional() });

export interface AzureSettings {
  subscriptionId: string;
  regions: string[] | undefined;
  /** Where the subscription came from, for messages. */
  source: string;
}

export function azureHasCredentials(env: NodeJS.ProcessEnv, credentialsPath: string): boolean {
  return Boolean(env["AZURE_SUBSCRIPTION_ID"]?.trim() || env["KILN_AZURE_API_URL"]?.trim()) || existsSync(credentialsPath);
}

const regionsFromEnv = (env: NodeJS.ProcessEnv) =>
  env["KILN_AZURE_REGIONS"]
    ?.split(",")
    .map((r) => r.trim())
    .filter(Boolean);

export async function loadAzureSettings(env: NodeJS.ProcessEnv, credentialsPath: string): Promise<AzureSettings | undefined> {
  const fromEnv = env["AZURE_SUBSCRIPTION_ID"]?.trim();
  const envRegions = regionsFromEnv(env);
  if (fromEnv) return { subscriptionId: fromEnv, regions: envRegions, source: "AZURE_SUBSCRIPTION_ID" };
  const section = await credentialsSection(credentialsPath, "azure", Section, AZURE_FILE_EXAMPLE);
  if (!section) return undefined;
  return { subscriptionId: section.subscription_id, regions: envRegions ?? section.regions, source: credentialsPath };
}

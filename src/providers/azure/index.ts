export { AzureProvider, type AzureProviderOptions } from "./provider.js";
export { AzureClient, type AzureClientOptions } from "./client.js";
export { configuredAzure } from "./configured.js";
export { formatMachineId, parseMachineId } from "./ids.js";

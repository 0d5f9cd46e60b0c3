/** The AWS EC2 provider's public surface (the descriptor is ./descriptor.ts, imported by the registry). */
export { AwsClient, type AwsClientOptions } from "./client.js";
export { AwsProvider, type AwsProviderOptions, DLAMI_PARAMETER, DLAMI_NAME_FILTER } from "./provider.js";
export { toProviderError } from "./errors.js";
export { formatMachineId, parseMachineId } from "./ids.js";
export { AWS_CATALOG, AWS_INSTANCE_TYPES } from "./catalog.js";

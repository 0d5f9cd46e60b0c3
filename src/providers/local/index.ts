/** The local provider: run on this computer. */
export { LOCAL_INSTANCE_TYPE, type LocalMachineInfo, LocalProvider, type LocalProviderOptions } from "./provider.js";
